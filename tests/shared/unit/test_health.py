"""/healthz: 200 only when every dependency answers; otherwise 503 naming the ones that do
not, with Retry-After, since a 503 means one thing here: try again."""

from __future__ import annotations

import httpx

from tests.intake.unit.api import service as intake_on
from tests.intake.unit.helpers import World


async def test_a_service_whose_broker_is_away_is_503_with_retry_after() -> None:
    # On fakes nothing connects the broker: Kafka is "down", as when it is away for real.
    built = intake_on(World())
    transport = httpx.ASGITransport(app=built.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        r = await client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable" and r.json()["checks"]["kafka"].startswith("down")
    assert int(r.headers["retry-after"]) >= 1
