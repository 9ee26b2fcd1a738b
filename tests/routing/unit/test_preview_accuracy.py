"""Acceptance: POST /v1/routing/preview reaches hit@1 >= 0.88 on real reports never seen.

The held-out slice is the classifier's own (tools/train_classifier.py: sha256(ticket id)
% 5 == 0); the shipped artifact was fitted on the rest only. Reports are read in place.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from services.routing.adapters.classifier import default_ranker
from services.routing.bootstrap import create_service
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.roles import Role
from tests.routing.fakes import FakeCaseRepository, StaticDirectories
from tests.routing.unit.test_handlers import NOW
from tests.signing import as_, sign_in
from tools.train_classifier import default_csv_path, load_reports, split_reports

OFFICER = as_(Role.OFFICER, officer_id="desk", department="office")

TARGET = 0.88


@pytest.mark.skipif(not default_csv_path().exists(), reason="Traffy Fondue export not present")
async def test_preview_hit_at_1_on_held_out_traffy_reports() -> None:
    _, held_out = split_reports(load_reports())
    assert len(held_out) > 100  # a slice large enough for the figure to mean something
    svc = create_service(
        RoutingSettings(),
        cases=FakeCaseRepository(),
        directories=StaticDirectories(),
        ranker=default_ranker(),
        clock=FixedClock(NOW),
    )
    transport = httpx.ASGITransport(app=sign_in(svc).asgi)
    hits = 0
    gate = asyncio.Semaphore(8)
    started = time.perf_counter()
    async with httpx.AsyncClient(
        transport=transport, base_url="http://routing", headers=OFFICER
    ) as client:

        async def ask(text: str) -> dict[str, object]:
            async with gate:
                r = await client.post("/v1/routing/preview", json={"text": text})
            assert r.status_code == 200, r.text
            body: dict[str, object] = r.json()
            return body

        answers = await asyncio.gather(*(ask(r.text) for r in held_out))
    elapsed = time.perf_counter() - started
    for report, answer in zip(held_out, answers, strict=True):
        categories = answer["categories"]
        assert isinstance(categories, list) and categories
        hits += categories[0]["code"] in report.labels
        assert answer["department"] and answer["reasons"]
    hit1 = hits / len(held_out)
    print(
        f"\npreview hit@1 = {hit1:.3f} on {len(held_out)} held-out reports;"
        f" {1000 * elapsed / len(held_out):.1f} ms per preview (in-process)"
    )
    assert hit1 >= TARGET
