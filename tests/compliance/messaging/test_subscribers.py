"""Compliance's subscription on FastStream's in-memory broker (no real Kafka)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from faststream.kafka import KafkaMessage, TestKafkaBroker

from services.compliance.bootstrap import create_service
from services.compliance.settings import ComplianceSettings
from shared.clock import FixedClock
from shared.topics import Topic
from tests.compliance.builders import NOW, hearing, raw, registration
from tests.compliance.fakes import FakeAuditTrail, FakeProjectRepository


def service_with_fakes() -> tuple[Any, FakeProjectRepository]:
    repo = FakeProjectRepository()
    service = create_service(
        ComplianceSettings(), projects=repo, clock=FixedClock(NOW), audit_trail=FakeAuditTrail()
    )
    return service, repo


def body(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


async def test_the_acceptance_story_through_kafka() -> None:
    service, repo = service_with_fakes()
    stream = [
        raw("EXACT", 1, "registered", **registration("10,000,000.00")),
        raw("OVER", 1, "registered", **registration("10,000,000.01")),
        raw("KEY", 1, "registered", **registration(50_000, key_policy=True)),
        raw("AMEND", 1, "registered", **registration("9,000,000")),
        raw("AMEND", 2, "budget_changed", budget="12,000,000.00"),
        raw("OVER", 3, "participation_recorded", **hearing()),  # early: waits for v2
        raw("OVER", 2, "stage_changed", stage="procurement"),
        raw("OVER", 2, "stage_changed", stage="procurement"),  # delivered twice
    ]
    async with TestKafkaBroker(service.runtime.broker) as broker:
        for message in stream:
            pid = message["payload"]["project_id"]
            await broker.publish(body(message), topic=Topic.PROJECT_EVENTS.value, key=pid.encode())

    projects = {pid: await repo.get(pid) for pid in ("EXACT", "OVER", "KEY", "AMEND")}
    assert all(p is not None for p in projects.values())
    counts = {pid: len(p.requirements) for pid, p in projects.items() if p}
    assert counts == {"EXACT": 0, "OVER": 3, "KEY": 3, "AMEND": 3}
    over = projects["OVER"]
    assert over is not None and over.applied_version == 3
    assert [v.code for v in over.violations] == ["procurement_without_public_hearing"]
    assert over.requirement("public_hearing").status.value == "met"  # type: ignore[union-attr]
    raised = repo.publisher.on(Topic.COMPLIANCE_REQUIREMENT_RAISED)  # via the outbox
    assert sorted(e["payload"]["project_id"] for e in raised) == sorted(
        ["AMEND", "KEY", "OVER"] * 3
    )
    assert len(repo.publisher.on(Topic.COMPLIANCE_VIOLATION)) == 1


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (raw("F", 1, "registered", **registration(12_000_000.5)), "payload.budget"),
        (raw("F", 1, "registered", **registration(12_000_000.0)), "payload.budget"),
        (raw("N", 1, "registered", **registration(-1)), "budget: a negative amount"),
        (raw("N", 1, "registered", **registration("-12,000,000.00")), "budget: a negative"),
        (raw("S", 2, "stage_changed", stage="tendering"), "payload.stage"),
        ({**raw("T", 2, "stage_changed", stage="approved"), "type": "ProjectRenamed"}, "type"),
    ],
)
async def test_invalid_events_are_dead_lettered_with_the_reason_and_their_bytes(
    message: dict[str, Any], reason: str
) -> None:
    service, repo = service_with_fakes()
    dead: list[tuple[bytes, dict[str, str]]] = []

    @service.runtime.broker.subscriber(Topic.COMPLIANCE_DLQ.value)
    async def dlq(msg: KafkaMessage) -> None:
        dead.append((msg.body, dict(msg.headers)))

    poison = body(message)
    async with TestKafkaBroker(service.runtime.broker) as broker:
        await broker.publish(poison, topic=Topic.PROJECT_EVENTS.value, key=b"P")
        good = raw("OK", 1, "registered", **registration())
        await broker.publish(body(good), topic=Topic.PROJECT_EVENTS.value, key=b"OK")
    assert len(dead) == 1 and dead[0][0] == poison
    assert reason in dead[0][1]["x-dlq-reason"], dead[0][1]["x-dlq-reason"]
    assert dead[0][1]["x-dlq-source-topic"] == Topic.PROJECT_EVENTS.value
    assert set(repo.store.docs) == {"OK"}  # nothing kept of the poison; the partition moved on
