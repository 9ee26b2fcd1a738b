"""Compliance's use cases on hand-written fakes: versions, parking, duplicates, outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.compliance.adapters.mongo_projects import to_document
from services.compliance.domain.errors import InvalidProjectEvent, WrongSource
from services.compliance.handlers import ComplianceHandlers
from shared.clock import FixedClock
from shared.events.compliance import (
    ParticipationRecordedPayload,
    ProjectBudgetChangedPayload,
    ProjectEvent,
    ProjectRegisteredPayload,
)
from shared.topics import Topic
from tests.compliance.builders import NOW, event, handlers, hearing, registration
from tests.compliance.fakes import FakeProjectRepository

PID = "SPT-2569-PRJ-0007"
FACT_TOPICS = (
    Topic.COMPLIANCE_REQUIREMENT_RAISED,
    Topic.COMPLIANCE_REQUIREMENT_MET,
    Topic.COMPLIANCE_VIOLATION,
    Topic.COMPLIANCE_WARNING,
)


def history() -> list[ProjectEvent]:
    """Amended across the threshold, to procurement before its hearing, then put right."""
    committee = {**hearing("ic-1", "inspection_committee"), "held_on": "2026-03-02"}
    return [
        event(PID, 1, "registered", **registration("9,000,000.00")),
        event(PID, 2, "budget_changed", budget="12,000,000.00", reason="ข้อบัญญัติเพิ่มเติม"),
        event(PID, 3, "stage_changed", stage="approved"),
        event(PID, 4, "stage_changed", stage="procurement"),
        event(PID, 5, "participation_recorded", **hearing()),
        event(PID, 6, "participation_recorded", **committee),
        event(PID, 7, "stage_changed", stage="inspection"),
        event(PID, 8, "flagged", key_policy=True),
        event(PID, 9, "stage_changed", stage="completed"),
    ]


async def deliver(events: list[ProjectEvent]) -> tuple[dict[str, Any], FakeProjectRepository]:
    h, repo = handlers()
    for e in events:
        await h.on_project_event(e)
    project = await repo.get(PID)
    assert project is not None
    return to_document(project), repo


def facts_published(repo: FakeProjectRepository) -> list[tuple[str, str]]:
    return sorted(
        (p.topic, p.json()["event_id"])
        for p in repo.publisher.sent
        if p.topic in {t.value for t in FACT_TOPICS}
    )


def latest_public(repo: FakeProjectRepository) -> dict[str, Any]:
    public = repo.publisher.on(Topic.PUBLIC_PROJECTS)
    return max(public, key=lambda e: e["payload"]["revision"])["payload"]  # type: ignore[no-any-return]


async def test_in_order_the_story_is_told_with_each_fact_once() -> None:
    doc, repo = await deliver(history())
    assert doc["applied_version"] == 9 and doc["pending"] == []
    assert {r["kind"]: r["status"] for r in doc["requirements"]} == {
        "public_hearing": "met",
        "inspection_committee_participation": "met",
        "public_report_back": "open",
    }
    assert [(v["code"], v["severity"]) for v in doc["violations"]] == [
        ("procurement_without_public_hearing", "high")
    ]
    topics = [t for t, _ in facts_published(repo)]
    assert topics.count(Topic.COMPLIANCE_REQUIREMENT_RAISED.value) == 3
    assert topics.count(Topic.COMPLIANCE_REQUIREMENT_MET.value) == 2
    assert topics.count(Topic.COMPLIANCE_VIOLATION.value) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(9)), repeats=st.lists(st.integers(0, 8), max_size=6))
async def test_shuffled_and_duplicated_delivery_gives_the_in_order_result(
    order: list[int], repeats: list[int]
) -> None:
    events = history()
    expected, expected_repo = await deliver(events)
    delivered = [events[i] for i in order]
    for i in repeats:  # redeliveries, anywhere in the stream
        delivered.insert((i * 7) % (len(delivered) + 1), events[i])
    got, repo = await deliver(delivered)
    assert got == expected
    assert facts_published(repo) == facts_published(expected_repo)
    assert latest_public(repo) == latest_public(expected_repo)


async def test_early_events_wait_on_the_project_until_the_gap_fills() -> None:
    h, repo = handlers()
    events = history()
    await h.on_project_event(events[3])  # procurement, before anything else
    await h.on_project_event(events[2])
    parked = await repo.get(PID)
    assert parked is not None and not parked.registered
    assert [p.version for p in parked.pending] == [3, 4]
    assert repo.publisher.sent == []
    await h.on_project_event(events[0])
    await h.on_project_event(events[1])
    project = await repo.get(PID)
    assert project is not None and project.applied_version == 4 and project.pending == []
    assert [v.code for v in project.violations] == ["procurement_without_public_hearing"]


async def test_a_restart_mid_stream_changes_nothing() -> None:
    events = history()
    expected, _ = await deliver(events)
    h, repo = handlers()
    for e in events[:5]:
        await h.on_project_event(e)
    restarted = ComplianceHandlers(repo, h.policies, h.clock, h.metrics)
    for e in events[3:]:  # Kafka redelivers from the last commit
        await restarted.on_project_event(e)
    project = await repo.get(PID)
    assert project is not None and to_document(project) == expected


async def test_events_stored_before_a_broker_outage_go_out_on_redelivery() -> None:
    h, repo = handlers()
    first = history()[0]
    raised = event("BIG", 1, "registered", **registration("10,000,000.01"))
    repo.publisher.fail_next = 1
    with pytest.raises(ConnectionError):
        await h.on_project_event(raised)
    assert repo.publisher.on(Topic.COMPLIANCE_REQUIREMENT_RAISED) == []
    await h.on_project_event(raised)
    assert len(repo.publisher.on(Topic.COMPLIANCE_REQUIREMENT_RAISED)) == 3
    await h.on_project_event(first)
    assert len(repo.publisher.on(Topic.COMPLIANCE_REQUIREMENT_RAISED)) == 3  # 9M raises none


async def test_a_refused_change_is_kept_on_the_timeline_and_later_versions_still_apply() -> None:
    h, _ = handlers()
    await h.on_project_event(event("W", 1, "registered", **registration("1,000.00")))
    await h.on_project_event(event("W", 2, "waived", requirement="public_hearing", reason="ไม่มี"))
    project = await h.on_project_event(event("W", 3, "stage_changed", stage="approved"))
    assert project.applied_version == 3 and project.stage.value == "approved"
    assert [t.refused for t in project.timeline] == [False, True, False]


@pytest.mark.parametrize(
    ("budget", "field"), [(-5, "budget"), ("-1.00", "budget"), ("1.005", "budget")]
)
async def test_bad_amounts_on_kafka_are_permanent_errors_naming_the_field(
    budget: object, field: str
) -> None:
    h, repo = handlers()
    with pytest.raises(InvalidProjectEvent) as refused:
        await h.on_project_event(event("X", 1, "registered", **registration(budget)))
    assert refused.value.field == field
    assert repo.store.docs == {}


async def test_kafka_events_for_a_project_entered_by_hand_are_refused() -> None:
    h, _ = handlers()
    await h.register(
        "sraphonthong",
        ProjectRegisteredPayload(project_id="M", version=1, **registration("1,000.00")),
        None,
    )
    with pytest.raises(WrongSource):
        await h.on_project_event(event("M", 2, "stage_changed", stage="approved"))


async def test_timers_warn_before_planned_procurement_and_flag_late_report_backs_once() -> None:
    clock = FixedClock(NOW - timedelta(days=40))
    h, repo = handlers(clock=clock)
    soon = registration("12,000,000.00", planned_procurement_date="2026-02-01")
    await h.on_project_event(event("SOON", 1, "registered", **soon))
    await h.on_project_event(event("DONE", 1, "registered", **registration(key_mission=True)))
    await h.on_project_event(event("DONE", 2, "participation_recorded", **hearing()))
    committee = hearing("ic", "inspection_committee")
    await h.on_project_event(event("DONE", 3, "participation_recorded", **committee))
    await h.on_project_event(event("DONE", 4, "stage_changed", stage="completed"))

    assert await h.check_timers() == 0  # 40 days before procurement, just completed
    clock.set(NOW)  # 17 days before 1 Feb 2026; completed 60+ days ago
    assert await h.check_timers() == 2
    assert await h.check_timers() == 0
    warnings = repo.publisher.on(Topic.COMPLIANCE_WARNING)
    assert [(w["payload"]["project_id"], w["payload"]["code"]) for w in warnings] == [
        ("SOON", "procurement_soon")
    ]
    late = repo.publisher.on(Topic.COMPLIANCE_VIOLATION)
    assert [(v["payload"]["project_id"], v["payload"]["severity"]) for v in late] == [
        ("DONE", "low")
    ]
    assert h.metrics.projects.labels("with_violations")._value.get() == 1
    assert h.metrics.violations_open._value.get() == 1


async def test_officers_add_participation_to_a_kafka_fed_project_but_not_its_budget() -> None:
    h, _ = handlers()
    await h.on_project_event(event("K", 1, "registered", **registration()))
    record = ParticipationRecordedPayload(project_id="K", version=1, **hearing())
    project, applied = await h.record("K", record, "forum-1")
    assert applied and project.applied_version == 1  # the producer's versions stay its own
    assert project.requirement("public_hearing").status.value == "met"  # type: ignore[union-attr]
    _, again = await h.record("K", record, "forum-1")
    assert not again
    with pytest.raises(WrongSource):
        await h.record("K", ProjectBudgetChangedPayload(project_id="K", version=1, budget=1), None)
    project = await h.on_project_event(event("K", 2, "stage_changed", stage="procurement"))
    assert project.violations == []
