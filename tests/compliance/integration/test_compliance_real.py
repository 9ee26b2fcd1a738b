"""Compliance on the real Kafka broker and FerretDB."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from faststream.kafka import KafkaMessage

from services.compliance.adapters.mongo_projects import to_document
from services.compliance.bootstrap import ComplianceService, create_service
from services.compliance.settings import ComplianceSettings
from shared.clock import FixedClock
from shared.kafka import topic_name
from shared.topics import Topic
from tests.compliance.builders import hearing, raw, registration
from tests.compliance.unit.test_handlers import PID, deliver, history
from tests.conftest import eventually, running
from tests.signing import EXECUTIVE

pytestmark = pytest.mark.integration


Seen = list[tuple[dict[str, Any], dict[str, str]]]
# A shared broker on a shared, busy machine: consumer groups can take a while to join.
KAFKA_WAIT = 120.0


def collect(service: ComplianceService, *topics: Topic) -> dict[Topic, Seen]:
    """Everything put on these topics (by the service or its dead-letter policy), as JSON
    and headers; one consumer group for all of them, so one join to wait for."""
    seen: dict[Topic, Seen] = {t: [] for t in topics}
    by_name = {topic_name(service.settings, t): t for t in topics}

    @service.runtime.broker.subscriber(
        *by_name,
        group_id=service.settings.group_id("test-collector"),
        auto_offset_reset="earliest",
    )
    async def sink(message: KafkaMessage) -> None:
        topic = by_name[message.raw_message.topic]  # type: ignore[union-attr]
        seen[topic].append((json.loads(message.body), dict(message.headers)))

    return seen


@asynccontextmanager
async def serving(service: ComplianceService) -> AsyncIterator[httpx.AsyncClient]:
    """`running`, plus waiting for the broker: the lifespan yields before it connects."""
    async with running(service) as api:
        api.headers.update(EXECUTIVE)  # registers projects and may waive

        async def healthy() -> bool:
            return (await api.get("/healthz")).status_code == 200

        await eventually(healthy)
        yield api


async def publish(service: ComplianceService, message: dict[str, Any]) -> None:
    await service.runtime.broker.publish(
        json.dumps(message, ensure_ascii=False).encode("utf-8"),
        topic=topic_name(service.settings, Topic.PROJECT_EVENTS),
        key=message["payload"]["project_id"].encode(),
    )


# A day after the story's completion: its report-back is not yet late. A timer round runs at
# start-up and whenever it comes round, and may see the completed project; on a clock past the
# 30 days' grace it would add a violation that the expected document (decided without timers)
# does not have (each test failed once in CI on NOW, 15 Jan 2026).
DAY_AFTER_COMPLETION = FixedClock(datetime(2025, 11, 13, 2, 0, tzinfo=UTC))


async def test_acceptance_through_kafka_with_shuffles_duplicates_and_dead_letters(
    real_settings: Any,
) -> None:
    service = create_service(real_settings(ComplianceSettings), clock=DAY_AFTER_COMPLETION)
    seen = collect(
        service,
        Topic.COMPLIANCE_REQUIREMENT_RAISED,
        Topic.COMPLIANCE_VIOLATION,
        Topic.COMPLIANCE_DLQ,
    )
    raised = seen[Topic.COMPLIANCE_REQUIREMENT_RAISED]
    violations, dead = seen[Topic.COMPLIANCE_VIOLATION], seen[Topic.COMPLIANCE_DLQ]
    expected, _ = await deliver(history())
    story = [json.loads(e.model_dump_json()) for e in history()]
    shuffled = story + story[2:5]
    random.Random(7).shuffle(shuffled)
    poison = [
        raw("FLOAT", 1, "registered", **registration(12_000_000.5)),
        raw("NEG", 1, "registered", **registration(-12_000_000)),
        raw("STAGE", 2, "stage_changed", stage="tendering"),
    ]
    async with serving(service) as api:
        for message in [
            raw("EXACT", 1, "registered", **registration("10,000,000.00")),
            raw("OVER", 1, "registered", **registration("10,000,000.01")),
            raw("KEY", 1, "registered", **registration("50,000", key_policy=True)),
            *poison,
            *shuffled,
        ]:
            await publish(service, message)

        async def settled() -> Any:
            r = await api.get(f"/v1/projects/{PID}")
            return r.json() if r.status_code == 200 and r.json()["applied_version"] == 9 else None

        final = await eventually(settled, timeout=KAFKA_WAIT)
        assert [(v["code"], v["severity"]) for v in final["violations"]] == [
            ("procurement_without_public_hearing", "high")
        ]
        assert {r["kind"]: r["status"] for r in final["requirements"]}["public_hearing"] == "met"
        stored = await service.handlers.projects.get(PID)
        assert stored is not None and to_document(stored) == expected
        # The operator's gauge: summed by the server ($group, $sum) over registered projects.
        assert await service.handlers.projects.violations() == 1

        for pid, count in (("EXACT", 0), ("OVER", 3), ("KEY", 3)):
            got = (await api.get(f"/v1/projects/{pid}")).json()
            assert len(got["requirements"]) == count, got
        await eventually(lambda: _ready(len(dead) >= 3), timeout=KAFKA_WAIT)
        reasons = {body["payload"]["project_id"]: h["x-dlq-reason"] for body, h in dead}
        assert "payload.budget" in reasons["FLOAT"]
        assert "negative" in reasons["NEG"]
        assert "payload.stage" in reasons["STAGE"]
        assert (await api.get("/v1/projects/FLOAT")).status_code == 404

        # At least once on the wire; exactly once per fact, by event id.
        def by_project() -> dict[str, int]:
            out: dict[str, int] = {}
            for pid, _ in distinct(raised):
                out[pid] = out.get(pid, 0) + 1
            return out

        await eventually(
            lambda: _ready(by_project() == {"OVER": 3, "KEY": 3, PID: 3}), timeout=KAFKA_WAIT
        )
        await eventually(lambda: _ready(len(distinct(violations)) == 1), timeout=KAFKA_WAIT)


async def _ready(value: bool) -> bool:
    return value


def distinct(seen: Seen) -> set[tuple[str, str]]:
    return {(body["payload"]["project_id"], body["event_id"]) for body, _ in seen}


async def test_acceptance_through_http_is_stored_and_published(real_settings: Any) -> None:
    service = create_service(real_settings(ComplianceSettings), clock=DAY_AFTER_COMPLETION)
    seen = collect(service, Topic.COMPLIANCE_VIOLATION, Topic.PUBLIC_PROJECTS)
    violations, public = seen[Topic.COMPLIANCE_VIOLATION], seen[Topic.PUBLIC_PROJECTS]
    base = {"org_id": "sraphonthong"}
    async with serving(service) as api:
        for pid, budget, flags, count in (
            ("H-EXACT", "10,000,000.00", {}, 0),
            ("H-OVER", "10,000,000.01", {}, 3),
            ("H-KEY", "50,000.00", {"key_policy": True}, 3),
        ):
            r = await api.post(
                "/v1/projects", json={**base, "project_id": pid, **registration(budget, **flags)}
            )
            assert r.status_code == 201 and len(r.json()["requirements"]) == count, r.text
        r = await api.post(
            "/v1/projects", json={**base, "project_id": "H-AMEND", **registration("9,000,000")}
        )
        assert r.json()["requirements"] == []
        r = await api.post(
            "/v1/projects/H-AMEND/events",
            json={"type": "budget_changed", "budget": "12,000,000.00"},
        )
        assert len(r.json()["requirements"]) == 3
        r = await api.post(
            "/v1/projects/H-AMEND/events", json={"type": "stage_changed", "stage": "procurement"}
        )
        assert [v["severity"] for v in r.json()["violations"]] == ["high"]
        for _ in range(2):  # a retried request with the same event id applies once
            r = await api.post(
                "/v1/projects/H-AMEND/events",
                json={"type": "participation_recorded", "event_id": "ph-1", **hearing()},
            )
        assert [e["record_id"] for e in r.json()["evidence"]] == ["hearing-1"]
        assert r.json()["requirements"][0]["status"] == "met"

        for bad, field in ((12_000_000.5, "budget"), (-1, "budget")):
            r = await api.post(
                "/v1/projects", json={**base, "project_id": "H-BAD", **registration(bad)}
            )
            assert r.status_code == 422 and r.json()["details"][0]["field"] == field
        r = await api.post(
            "/v1/projects", json={**base, "project_id": "H-BAD", **registration(stage="tendering")}
        )
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "stage"

        listed = await api.get(
            "/v1/projects", params={"requires_participation": "true", "fiscal_year": "2569"}
        )
        assert [p["project_id"] for p in listed.json()["items"]] == ["H-AMEND", "H-KEY", "H-OVER"]
        pack = await api.get("/v1/evidence/2569.html")
        assert "12,000,000.00 บาท" in pack.text

        await eventually(lambda: _ready(len(distinct(violations)) == 1), timeout=KAFKA_WAIT)
        await eventually(
            lambda: _ready(
                {b["payload"]["project_id"] for b, _ in public}
                >= {"H-EXACT", "H-OVER", "H-KEY", "H-AMEND"}
            ),
            timeout=KAFKA_WAIT,
        )
        assert all("recorded_by" not in json.dumps(b) for b, _ in public)
        metrics = (await api.get("/metrics")).text
        assert (
            'ruam_compliance_violations_total{requirement="public_hearing",severity="high"} 1.0'
            in metrics
        )


async def test_a_restart_mid_stream_changes_nothing(real_settings: Any) -> None:
    settings = real_settings(ComplianceSettings)
    expected, _ = await deliver(history())
    story = [json.loads(e.model_dump_json()) for e in history()]
    clock = DAY_AFTER_COMPLETION
    first = create_service(settings, clock=clock)
    async with serving(first) as api:
        for message in story[:5]:
            await publish(first, message)

        async def at(version: int) -> Any:
            r = await api.get(f"/v1/projects/{PID}")
            return r.status_code == 200 and r.json()["applied_version"] == version

        await eventually(lambda: at(5), timeout=KAFKA_WAIT)
    second = create_service(settings, clock=clock)
    async with serving(second) as api:
        for message in story[3:]:  # the producer resends what it was unsure of
            await publish(second, message)
        await eventually(lambda: at(9), timeout=KAFKA_WAIT)
        stored = await second.handlers.projects.get(PID)
        assert stored is not None and to_document(stored) == expected
