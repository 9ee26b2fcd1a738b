"""Routing's subscriptions on FastStream's in-memory broker (no real Kafka)."""

from __future__ import annotations

from faststream.kafka import KafkaMessage, TestKafkaBroker

from services.routing.bootstrap import create_service
from services.routing.settings import RoutingSettings
from shared.topics import Topic
from tests.routing.fakes import FakeCaseRepository
from tests.routing.unit.test_handlers import received


async def test_case_received_on_kafka_is_assigned() -> None:
    repo = FakeCaseRepository()
    service = create_service(RoutingSettings(), cases=repo)
    async with TestKafkaBroker(service.runtime.broker) as broker:
        await broker.publish(received(), topic=Topic.CASE_RECEIVED.value, key=b"SPT-2569-000001")
        stored = await repo.get("SPT-2569-000001")
        assert stored is not None and stored.officer_id is not None


async def test_a_poison_message_is_dead_lettered_with_its_bytes() -> None:
    repo = FakeCaseRepository()
    service = create_service(RoutingSettings(), cases=repo)
    dead: list[tuple[bytes, dict[str, str]]] = []

    @service.runtime.broker.subscriber(Topic.ROUTING_DLQ.value)
    async def dlq(message: KafkaMessage) -> None:
        dead.append((message.body, dict(message.headers)))

    async with TestKafkaBroker(service.runtime.broker) as broker:
        await broker.publish(b'{"not": "an event"}', topic=Topic.CASE_RECEIVED.value)
        await broker.publish(received(), topic=Topic.CASE_RECEIVED.value)
    assert dead and dead[0][0] == b'{"not": "an event"}'
    assert "invalid event" in dead[0][1]["x-dlq-reason"]
    assert await repo.get("SPT-2569-000001") is not None  # the partition moved on
