"""A long-lived case on real FerretDB: older history filed in `case_history`, the case
document bounded, every entry readable again, and over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.routing.adapters.mongo_cases import MongoCaseRepository
from services.routing.domain.lifecycle import Command
from services.routing.domain.model import HISTORY_CHUNK, HISTORY_KEPT
from services.routing.handlers import Actor, RoutingHandlers
from services.routing.metrics import RoutingMetrics
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.mongo import create_client
from tests.fakes import FakePublisher
from tests.routing.fakes import FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import received
from tests.signing import EXECUTIVE, sign_in

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


async def test_a_transfer_ping_pong_files_history_and_keeps_the_case_small(
    real_settings: Any,
) -> None:
    settings = real_settings(RoutingSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    db = client[settings.mongodb_database]
    try:
        repo = MongoCaseRepository(db, FakePublisher())
        handlers = RoutingHandlers(
            repo,
            StaticDirectories(),
            FakeRanker(),
            FixedClock(NOW),
            RoutingMetrics(CollectorRegistry()),
            org_id="sraphonthong",
        )
        case = await handlers.on_case_received(received(received_at=NOW))
        for n in range(160):
            current = await repo.get(case.case_id)
            assert current is not None and current.officer_id
            target = "health" if n % 2 == 0 else "engineering"
            cmd = Command("transfer", current.officer_id, {"department": target}, f"t{n}")
            await handlers.act(case.case_id, cmd, Actor(current.officer_id, "http"))

        stored = await db["cases"].find_one({"_id": case.case_id})
        assert stored is not None
        assert len(stored["timeline"]) < HISTORY_KEPT + HISTORY_CHUNK
        assert len(stored["assignments"]) < HISTORY_KEPT + HISTORY_CHUNK
        filed = stored["filed"]["timeline"]
        assert filed >= HISTORY_CHUNK
        seqs = []
        for no in range(filed // HISTORY_CHUNK):
            seqs += [t.seq for t in await repo.history(case.case_id, "timeline", no)]
        seqs += [t["seq"] for t in stored["timeline"]]
        assert seqs == list(range(1, stored["timeline_seq"] + 1))

        from services.routing.bootstrap import create_service

        service = create_service(settings, cases=repo)
        transport = httpx.ASGITransport(app=sign_in(service).asgi)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://routing", headers=EXECUTIVE
        ) as http:
            view = (await http.get(f"/v1/cases/{case.case_id}")).json()
            first = await http.get(f"/v1/cases/{case.case_id}/history/timeline/0")
            beyond = await http.get(f"/v1/cases/{case.case_id}/history/timeline/99")
            unknown = await http.get(f"/v1/cases/{case.case_id}/history/secrets/0")
        assert view["filed"]["timeline"] == filed and view["filed_chunk_size"] == HISTORY_CHUNK
        assert [t["seq"] for t in first.json()["entries"]] == list(range(1, HISTORY_CHUNK + 1))
        assert first.json()["chunks"] == filed // HISTORY_CHUNK
        assert beyond.status_code == 404 and unknown.status_code == 404
    finally:
        await client.close()
