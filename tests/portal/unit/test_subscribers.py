"""The portal's subscriptions on FastStream's in-memory broker (no real Kafka): each public
topic reaches the read model, and a poison message goes to portal.dlq."""

from __future__ import annotations

import httpx
from faststream.kafka import TestKafkaBroker

from shared.events.cases import PublicCaseUpdated
from shared.events.compliance import PublicProjectUpdated
from shared.events.survey import PublicSatisfactionCounted
from shared.topics import Topic
from tests.fakes import dead_letters
from tests.portal.fakes import case, fact, portal, project

ORG = "sraphonthong"


async def test_the_public_topics_fill_the_pages() -> None:
    service = portal()
    async with TestKafkaBroker(service.runtime.broker) as broker:
        await broker.publish(
            PublicCaseUpdated(org_id=ORG, payload=case("SPT-2570-000077")),
            topic=Topic.PUBLIC_CASES.value,
            key=b"SPT-2570-000077",
        )
        await broker.publish(
            PublicProjectUpdated(org_id=ORG, payload=project("PRJ-9")),
            topic=Topic.PUBLIC_PROJECTS.value,
        )
        await broker.publish(
            PublicSatisfactionCounted(org_id=ORG, payload=fact("f9", {"quality": 5})),
            topic=Topic.PUBLIC_SATISFACTION.value,
        )
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        assert (await c.get("/track/SPT-2570-000077")).status_code == 200
        assert (await c.get("/projects/PRJ-9")).status_code == 200
    assert set(service.handlers.model.facts) == {"f9"}


async def test_a_poison_message_is_dead_lettered_and_the_partition_moves_on() -> None:
    service = portal()
    dead = dead_letters(service)

    async with TestKafkaBroker(service.runtime.broker) as broker:
        await broker.publish(b'{"type": "PublicCaseUpdated"}', topic=Topic.PUBLIC_CASES.value)
        await broker.publish(
            PublicCaseUpdated(org_id=ORG, payload=case("SPT-2570-000078")),
            topic=Topic.PUBLIC_CASES.value,
        )
    assert dead and dead[0][0] == b'{"type": "PublicCaseUpdated"}'
    assert "invalid event" in dead[0][1]["x-dlq-reason"]
    assert "SPT-2570-000078" in service.handlers.model.cases
