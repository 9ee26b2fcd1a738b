"""The demo's history stage (tools/demo/stages/history.py) through real processes: intake
takes the planted reports as telephone records dated in the past, routing assigns them and
its officers act on them, insight analyses them; the analysis finds the planted patterns,
and each number equals the one recomputed from insight's own raw events (the topics)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from deploy.local import stack
from shared.thai import BANGKOK, fiscal_year_be
from tests.conftest import eventually
from tests.portal.e2e.services import Services, started
from tools.demo.context import DemoContext
from tools.demo.stages import history
from tools.processes import free_port

pytestmark = pytest.mark.e2e

NEEDED = ("intake", "routing", "insight")


@dataclass
class InsightServices(Services):
    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in NEEDED}
        for name in NEEDED:
            self.launch(name)
        for name in NEEDED:
            self.wait(name)


@pytest.fixture(scope="module")
def services(
    real_stack: stack.Profile, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InsightServices]:
    with started(InsightServices, real_stack, tmp_path_factory, "insight") as running:
        yield running


async def test_the_history_stage_plants_what_the_analysis_finds(
    services: InsightServices,
) -> None:
    urls = {name: services.url(name, "").rstrip("/") for name in NEEDED}
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
        ctx = DemoContext(urls=urls, client=client, reports=[], data_path=None)
        await history.run(ctx)
        assert ctx.results["history"]["planted"] == len(history.plant(datetime.now(BANGKOK).date()))
        headers = services.headers("palad")
        r = await client.get(ctx.url("insight", "/v1/insight/hotspots"), headers=headers)
        road = [h for h in r.json()["hotspots"] if h["category"] == "road"]
        assert road and road[0]["reports"] == len(history.POTHOLE_DAYS_AGO), r.text
        assert road[0]["kind"] == "place", r.text
        # routing flags each later report as a likely duplicate of an open one of the
        # pothole and names the chain's first: one linked hotspot of all eight
        linked = [h for h in road if h["kind"] == "linked"]
        assert [h["reports"] for h in linked] == [len(history.POTHOLE_DAYS_AGO)], r.text
        assert len(linked[0]["case_ids"]) == len(history.POTHOLE_DAYS_AGO)
        assert linked[0]["root_case_id"] in linked[0]["case_ids"]
        today = datetime.now(BANGKOK).date()
        month = history.wave_month(today).strftime("%Y-%m")
        fy = fiscal_year_be(history.wave_month(today))
        r = await client.get(
            ctx.url("insight", f"/v1/insight/seasonality?fy={fy}"), headers=headers
        )
        waves = [w for w in r.json()["waves"] if w["category"] == "drainage"]
        assert [(w["month"], w["received"]) for w in waves] == [(month, history.WAVE_REPORTS)], (
            r.text
        )

        async def lighting() -> dict[str, Any] | None:
            # each topic is its own stream, consumed at its own pace: wait until the
            # resolutions and the reopenings are all in
            r = await client.get(
                ctx.url("insight", "/v1/insight/figures?dim=category"), headers=headers
            )
            found: dict[str, Any] | None = {s["value"]: s for s in r.json()["slices"]}.get(
                "lighting"
            )
            if found is None or found["resolved"] != history.REOPEN_CASES:
                return None
            return found if found["reopened"] == history.REOPENED else None

        found = await eventually(lighting, timeout=120, interval=0.5)
        assert found["percent_reopened"] == 40.0
