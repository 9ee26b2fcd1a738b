"""Durable timers: stored on the case, fired by whoever polls first, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from shared.clock import FixedClock
from shared.topics import Topic
from tests.routing.fakes import make_handlers
from tests.routing.unit.test_handlers import received

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


async def test_a_timer_survives_a_restart_and_fires_once_across_instances() -> None:
    clock = FixedClock(NOW)
    first, repo = make_handlers(clock)
    await first.on_case_received(received(received_at=NOW))
    stored = await repo.get("SPT-2569-000001")
    assert stored is not None and stored.timers  # the due moments are on the stored case

    # "Restart": new handlers (new process) over the same store, plus a second replica
    # polling at the same time. Time has moved past the breach.
    clock.set(NOW + timedelta(days=15, hours=1))
    restarted, _ = make_handlers(clock, repo=repo)
    replica, _ = make_handlers(clock, repo=repo)
    await asyncio.gather(restarted.fire_timers(), replica.fire_timers())
    await asyncio.gather(restarted.fire_timers(), replica.fire_timers())

    escalated = repo.publisher.on(Topic.CASE_ESCALATED)
    assert [(e["payload"]["level"], e["payload"]["to_officer_id"]) for e in escalated] == [
        (1, "eng-head")
    ]
    warnings = [
        n
        for n in repo.publisher.on(Topic.NOTIFICATION_REQUESTED)
        if n["payload"]["template"] == "deadline_warning"
    ]
    assert warnings == []  # the warning's moment (day 12) passed unseen: breach says it all
    case = await repo.get("SPT-2569-000001")
    assert case is not None and case.escalation_level == 1
    assert [t.action for t in case.timeline].count("escalate") == 1


async def test_the_timer_loop_warns_before_the_breach() -> None:
    clock = FixedClock(NOW)
    h, repo = make_handlers(clock)
    await h.on_case_received(received(received_at=NOW))
    clock.set(NOW + timedelta(days=12, hours=1))
    assert await h.fire_timers() == 2  # acknowledge overdue (owner + head), then the warning
    notes = repo.publisher.on(Topic.NOTIFICATION_REQUESTED)
    assert sorted(n["payload"]["template"] for n in notes) == [
        "acknowledge_overdue",
        "acknowledge_overdue",
        "deadline_warning",
    ]
    assert await h.fire_timers() == 0


async def test_a_case_received_20_days_late_is_overdue_and_escalated_on_arrival() -> None:
    h, repo = make_handlers(FixedClock(NOW))
    case = await h.on_case_received(
        received(channel="letter", received_at=NOW - timedelta(days=20))
    )
    assert case.is_overdue(NOW) and case.escalation_level == 2
    levels = [e["payload"]["level"] for e in repo.publisher.on(Topic.CASE_ESCALATED)]
    assert levels == [1, 2]
    # Re-delivery of the same case.received doubles nothing.
    await h.on_case_received(received(channel="letter", received_at=NOW - timedelta(days=20)))
    assert len(repo.publisher.on(Topic.CASE_ESCALATED)) == 2
