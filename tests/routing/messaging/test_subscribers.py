"""Routing's subscriptions on FastStream's in-memory broker (no real Kafka)."""

from __future__ import annotations

from faststream.kafka import TestKafkaBroker

from services.routing.bootstrap import RoutingService, create_service
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.events.cases import CaseCommandIssued, CaseCommandPayload
from shared.topics import Topic
from tests.fakes import dead_letters
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import NOW, received


def service(repo: FakeCaseRepository) -> RoutingService:
    return create_service(
        RoutingSettings(),
        cases=repo,
        directories=StaticDirectories(),
        ranker=FakeRanker(),
        clock=FixedClock(NOW),
    )


def command(action: str, command_id: str, **params: str) -> CaseCommandIssued:
    return CaseCommandIssued(
        org_id="sraphonthong",
        payload=CaseCommandPayload(
            case_id="SPT-2569-000001",
            action=action,
            officer_id="eng-somchai",
            params=params,
            command_id=command_id,
        ),
    )


async def test_case_received_on_kafka_is_assigned() -> None:
    repo = FakeCaseRepository()
    async with TestKafkaBroker(service(repo).runtime.broker) as broker:
        await broker.publish(received(), topic=Topic.CASE_RECEIVED.value, key=b"SPT-2569-000001")
        stored = await repo.get("SPT-2569-000001")
        assert stored is not None and stored.officer_id is not None


async def test_commands_on_kafka_move_the_case_and_are_applied_once() -> None:
    repo = FakeCaseRepository()
    async with TestKafkaBroker(service(repo).runtime.broker) as broker:
        await broker.publish(received(), topic=Topic.CASE_RECEIVED.value)
        await broker.publish(command("start", "k1"), topic=Topic.CASE_COMMANDS.value)
        await broker.publish(command("start", "k1"), topic=Topic.CASE_COMMANDS.value)
        stored = await repo.get("SPT-2569-000001")
        assert stored is not None and stored.status == "in_progress"
        assert [t.action for t in stored.timeline] == ["receive", "assign", "start"]


async def test_a_refused_command_is_dead_lettered_with_the_reason() -> None:
    repo = FakeCaseRepository()
    svc = service(repo)
    dead = dead_letters(svc)

    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(), topic=Topic.CASE_RECEIVED.value)
        bad = command("close", "k2")
        await broker.publish(bad, topic=Topic.CASE_COMMANDS.value)
    assert dead and dead[0][0] == bad.to_bytes()
    assert "cannot close a case that is assigned" in dead[0][1]["x-dlq-reason"]


async def test_a_poison_message_is_dead_lettered_with_its_bytes() -> None:
    repo = FakeCaseRepository()
    svc = service(repo)
    dead = dead_letters(svc)

    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(b'{"not": "an event"}', topic=Topic.CASE_RECEIVED.value)
        await broker.publish(received(), topic=Topic.CASE_RECEIVED.value)
    assert dead and dead[0][0] == b'{"not": "an event"}'
    assert "invalid event" in dead[0][1]["x-dlq-reason"]
    assert await repo.get("SPT-2569-000001") is not None  # the partition moved on


async def test_a_fetch_of_several_records_is_taken_record_by_record() -> None:
    """One fetch brings a poison record between two reports: each report is routed, and
    only the poison goes to the dead letters, with its own bytes."""
    repo = FakeCaseRepository()
    svc = service(repo)
    dead = dead_letters(svc)

    first, second = received("SPT-2569-000001"), received("SPT-2569-000002")
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish_batch(
            first, b'{"not": "an event"}', second, topic=Topic.CASE_RECEIVED.value
        )
    assert [body for body, _ in dead] == [b'{"not": "an event"}']
    assert "invalid event" in dead[0][1]["x-dlq-reason"]
    for case_id in ("SPT-2569-000001", "SPT-2569-000002"):
        stored = await repo.get(case_id)
        assert stored is not None and stored.officer_id is not None
