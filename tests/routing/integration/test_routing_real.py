"""Routing on the real Kafka broker and FerretDB: assignment, actions, commands, timers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from services.routing.bootstrap import RoutingService, create_service
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.events.cases import CaseCommandIssued, CaseCommandPayload, CaseReceived
from shared.kafka import client_options, topic_name
from shared.roles import Role
from shared.topics import Topic
from tests.conftest import eventually, running
from tests.routing.fakes import FakeRanker
from tests.routing.unit.test_handlers import received
from tests.signing import EXECUTIVE, as_

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def routing(real_settings: Any, clock: FixedClock, **over: Any) -> RoutingService:
    settings = real_settings(RoutingSettings, timer_poll_seconds=0.2, **over)
    return create_service(settings, ranker=FakeRanker(), clock=clock)


async def publish(
    svc: RoutingService, topic: Topic, event: CaseReceived | CaseCommandIssued, key: str
) -> None:
    # The lifespan may hand over before the producer is connected: wait until it is.
    await eventually(lambda: svc.runtime.broker.ping(timeout=1.0))
    await svc.runtime.broker.publish(
        event.to_bytes(), topic=topic_name(svc.settings, topic), key=key.encode()
    )


async def read_topic(svc: RoutingService, topic: Topic, expect: int) -> list[dict[str, Any]]:
    """Distinct events on a topic of this test (its own prefix), once `expect` are there.

    Delivery is at least once (the outbox relay may publish an event a second time);
    consumers deduplicate by event id, and so does this reader.
    """
    consumer = AIOKafkaConsumer(
        topic_name(svc.settings, topic),
        bootstrap_servers=svc.settings.kafka_bootstrap_servers,
        **client_options(svc.settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            seen.extend(json.loads(m.value) for msgs in batch.values() for m in msgs)
            return len({e["event_id"] for e in seen}) >= expect

        await eventually(enough, timeout=30)
        # Anything beyond `expect` would be a double: give it a moment to show up.
        batch = await consumer.getmany(timeout_ms=1500)
        seen.extend(json.loads(m.value) for msgs in batch.values() for m in msgs)
    finally:
        await consumer.stop()
    return list({e["event_id"]: e for e in seen}.values())


async def test_received_assigned_acted_on_over_http_and_kafka(real_settings: Any) -> None:
    clock = FixedClock(NOW)
    svc = routing(real_settings, clock)
    async with running(svc) as http:
        http.headers.update(EXECUTIVE)  # reads every case
        await publish(
            svc,
            Topic.CASE_RECEIVED,
            received(
                "SPT-2569-000101",
                received_at=NOW - timedelta(hours=2),
                location={"village_no": 5},
                contact_ref="ct_9",
            ),
            "SPT-2569-000101",
        )

        async def assigned() -> Any:
            r = await http.get("/v1/cases/SPT-2569-000101")
            return r.json() if r.status_code == 200 else None

        case = await eventually(assigned)
        assert (case["department"], case["officer"]["id"]) == ("engineering", "eng-anan")
        r = await http.post(
            "/v1/cases/SPT-2569-000101/actions",
            json={"action": "acknowledge", "officer_id": "eng-anan"},
            headers=as_(Role.OFFICER, officer_id="eng-anan", department="engineering"),
        )
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        command = CaseCommandIssued(
            org_id="sraphonthong",
            payload=CaseCommandPayload(
                case_id="SPT-2569-000101",
                action="resolve",
                officer_id="eng-anan",
                params={"resolution": "เปลี่ยนหลอดไฟแล้ว"},
                command_id="cmd-resolve-1",
            ),
        )
        await publish(svc, Topic.CASE_COMMANDS, command, "SPT-2569-000101")
        await publish(svc, Topic.CASE_COMMANDS, command, "SPT-2569-000101")  # redelivered

        async def resolved() -> Any:
            r = await http.get("/v1/cases/SPT-2569-000101")
            return r.json() if r.json()["status"] == "resolved" else None

        done = await eventually(resolved)
        assert [t["action"] for t in done["timeline"]] == [
            "receive",
            "assign",
            "acknowledge",
            "resolve",
        ]
        [event] = await read_topic(svc, Topic.CASE_RESOLVED, 1)
        assert (event["payload"]["category"], event["payload"]["contact_ref"]) == (
            "lighting",
            "ct_9",
        )
        statuses = await read_topic(svc, Topic.CASE_STATUS_CHANGED, 3)
        assert [s["payload"]["to_status"] for s in statuses] == [
            "assigned",
            "acknowledged",
            "resolved",
        ]


async def test_a_late_letter_is_overdue_and_escalated_on_arrival(real_settings: Any) -> None:
    clock = FixedClock(NOW)
    svc = routing(real_settings, clock)
    async with running(svc) as http:
        http.headers.update(EXECUTIVE)  # reads every case
        await publish(
            svc,
            Topic.CASE_RECEIVED,
            received(
                "SPT-2569-000102",
                channel="letter",
                text="ถนนพังเป็นหลุม",
                received_at=NOW - timedelta(days=20),
            ),
            "SPT-2569-000102",
        )

        async def first() -> Any:
            return (await http.get("/v1/cases/SPT-2569-000102")).status_code == 200

        # One after the other: the second is routed knowing the load the first added.
        await eventually(first)
        await publish(
            svc,
            Topic.CASE_RECEIVED,
            received(
                "SPT-2569-000103",
                channel="letter",
                text="ถนนพังเป็นหลุม",
                received_at=NOW - timedelta(minutes=1),
            ),
            "SPT-2569-000103",
        )

        async def both() -> Any:
            r = await http.get("/v1/cases", params={"department": "engineering"})
            return r.json() if r.json()["total"] == 2 else None

        await eventually(both)
        late = (await http.get("/v1/cases/SPT-2569-000102")).json()
        fresh = (await http.get("/v1/cases/SPT-2569-000103")).json()
        assert late["overdue"] and late["escalation_level"] == 2
        respond = datetime.fromisoformat(fresh["respond_due_at"])
        assert respond - datetime.fromisoformat(fresh["received_at"]) == timedelta(days=15)
        assert not fresh["overdue"]
        overdue = (await http.get("/v1/cases", params={"overdue": "true"})).json()
        assert [c["case_id"] for c in overdue["items"]] == ["SPT-2569-000102"]
        # Least-loaded on FerretDB's $group: the second road case went to someone else.
        assert late["officer"]["id"] != fresh["officer"]["id"]
        escalated = await read_topic(svc, Topic.CASE_ESCALATED, 2)
        assert sorted(
            (e["payload"]["level"], e["payload"]["to_officer_id"]) for e in escalated
        ) == [(1, "eng-head"), (2, "palad")]


async def test_timers_survive_a_restart_and_fire_once(real_settings: Any) -> None:
    clock = FixedClock(NOW)
    first = routing(real_settings, clock)
    async with running(first) as http:
        http.headers.update(EXECUTIVE)  # reads every case
        await publish(
            first,
            Topic.CASE_RECEIVED,
            received("SPT-2569-000104", text="ถนนพัง", received_at=NOW),
            "SPT-2569-000104",
        )

        async def stored() -> Any:
            return (await http.get("/v1/cases/SPT-2569-000104")).status_code == 200

        await eventually(stored)
    # Down while the deadline passes; two instances come back (restart + a replica).
    clock.set(NOW + timedelta(days=15, hours=1))
    a = routing(real_settings, clock)
    b = routing(real_settings, clock)
    async with running(a) as http, running(b):
        http.headers.update(EXECUTIVE)  # reads every case

        async def escalated() -> Any:
            case = (await http.get("/v1/cases/SPT-2569-000104")).json()
            return case if case["escalation_level"] == 1 else None

        case = await eventually(escalated)
        assert [t["action"] for t in case["timeline"]].count("escalate") == 1
        events = await read_topic(a, Topic.CASE_ESCALATED, 1)
        assert len(events) == 1 and events[0]["payload"]["to_officer_id"] == "eng-head"


async def test_likely_duplicates_are_found_on_ferretdb(real_settings: Any) -> None:
    clock = FixedClock(NOW)
    svc = routing(real_settings, clock)
    async with running(svc) as http:
        http.headers.update(EXECUTIVE)  # reads every case
        loc = {"lat": 15.7201, "lon": 103.5102}
        await publish(
            svc,
            Topic.CASE_RECEIVED,
            received("SPT-2569-000105", location=loc, received_at=NOW),
            "SPT-2569-000105",
        )

        async def first() -> Any:
            return (await http.get("/v1/cases/SPT-2569-000105")).status_code == 200

        await eventually(first)
        near = {"lat": 15.7205, "lon": 103.5102}
        await publish(
            svc,
            Topic.CASE_RECEIVED,
            received("SPT-2569-000106", location=near, received_at=NOW),
            "SPT-2569-000106",
        )

        async def second() -> Any:
            r = await http.get("/v1/cases/SPT-2569-000106")
            return r.json() if r.status_code == 200 else None

        case = await eventually(second)
        assert case["likely_duplicate_of"] == "SPT-2569-000105"
        assert "m away" in case["duplicate_reason"]
