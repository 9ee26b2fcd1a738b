"""200 officer actions race timer rounds on the same cases, on real FerretDB: none lost.

The interleaving that once lost a resolve: a timer round saving cases it had nothing to
fire on held their next version, the action retried without a pause inside that window
and gave up, and the client read the 409 as "already done".
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.routing.adapters.mongo_cases import MongoCaseRepository
from services.routing.domain.lifecycle import Command
from services.routing.handlers import Actor, RoutingHandlers
from services.routing.metrics import RoutingMetrics
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.mongo import create_client
from tests.fakes import FakePublisher
from tests.routing.fakes import FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import received

pytestmark = pytest.mark.integration

CASES = 50
STEPS = ("acknowledge", "start", "note", "resolve")  # 4 x 50 = 200 actions
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


async def test_officer_actions_racing_timer_rounds_all_take_effect_once(
    real_settings: Any,
) -> None:
    settings = real_settings(RoutingSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    clock = FixedClock(NOW)
    publisher = FakePublisher()

    def replica() -> RoutingHandlers:
        return RoutingHandlers(
            MongoCaseRepository(client[settings.mongodb_database], publisher),
            StaticDirectories(),
            FakeRanker(),
            clock,
            RoutingMetrics(CollectorRegistry()),
            org_id="sraphonthong",
        )

    try:
        officers, timers = replica(), replica()
        ids = [f"SPT-2569-{n:06d}" for n in range(1, CASES + 1)]
        for case_id in ids:
            await officers.on_case_received(received(case_id, received_at=NOW))
        # Both the acknowledgement and the warning are now due on every case.
        clock.set(NOW + timedelta(days=12, hours=1))

        async def work(case_id: str) -> None:
            case = await officers.cases.get(case_id)
            assert case is not None and case.officer_id
            for step in STEPS:
                params = {"resolution": "ซ่อมแล้ว"} if step == "resolve" else {}
                if step == "note":
                    params = {"note": "ออกไปดูหน้างานแล้ว"}
                cmd = Command(step, case.officer_id, params, f"{case_id}-{step}")
                await officers.act(case_id, cmd, Actor(case.officer_id, "http"))

        done = asyncio.Event()

        async def tick() -> int:
            rounds = 0
            while not done.is_set():
                await timers.fire_timers()
                rounds += 1
                await asyncio.sleep(0)
            return rounds

        ticking = [asyncio.create_task(tick()) for _ in range(2)]
        results = await asyncio.gather(*(work(i) for i in ids), return_exceptions=True)
        done.set()
        rounds = await asyncio.gather(*ticking)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert sum(rounds) >= 2

        for case_id in ids:
            case = await officers.cases.get(case_id)
            assert case is not None
            assert case.status.value == "resolved", case_id
            actions = [t.action for t in case.timeline]
            for step in STEPS:
                assert actions.count(step) == 1, (case_id, actions)
            assert sorted(case.applied_commands) == sorted(f"{case_id}-{s}" for s in STEPS)
        resolved = [p for p in publisher.sent if p.json()["type"] == "CaseResolved"]
        assert sorted({p.json()["payload"]["case_id"] for p in resolved}) == ids
    finally:
        await client.close()
