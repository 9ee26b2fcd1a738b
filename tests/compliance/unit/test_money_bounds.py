"""Money is bounded: at most 10^15 satang (ten trillion baht), on HTTP and Kafka alike, and
a number too long to read is a refusal, never a 500 or an unhandled ValueError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.compliance.bootstrap import create_service
from services.compliance.domain.errors import InvalidProjectEvent
from services.compliance.domain.money import MAX_SATANG, InvalidMoney, parse_baht
from services.compliance.settings import ComplianceSettings
from shared.clock import FixedClock
from tests.compliance.builders import NOW, event, handlers, registration
from tests.compliance.fakes import FakeAuditTrail, FakeProjectRepository
from tests.signing import PLANNER, sign_in

LIMIT_BAHT = MAX_SATANG // 100  # 10,000,000,000,000


@pytest.mark.parametrize(
    "value",
    [LIMIT_BAHT, f"{LIMIT_BAHT:,}.00", f"{LIMIT_BAHT}", f"{LIMIT_BAHT - 1:,}.99", "000" + "1"],
)
def test_up_to_ten_trillion_baht_is_an_amount(value: object) -> None:
    assert 0 < parse_baht(value) <= MAX_SATANG


@pytest.mark.parametrize(
    "value",
    [
        LIMIT_BAHT + 1,
        f"{LIMIT_BAHT:,}.01",  # 10^15 + 1 satang
        f"{LIMIT_BAHT * 10}",
        "9" * 20_000,  # beyond what Python turns into an int without a ValueError
        "๙" * 20_000,
        10**5_000,
    ],
    ids=["int+1", "satang+1", "tenfold", "20000-digits", "20000-thai-digits", "int-5000-digits"],
)
def test_more_is_refused_naming_the_limit(value: object) -> None:
    with pytest.raises(InvalidMoney, match=r"10,000,000,000,000\.00"):
        parse_baht(value)


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    service = create_service(
        ComplianceSettings(),
        projects=FakeProjectRepository(),
        clock=FixedClock(NOW),
        audit_trail=FakeAuditTrail(),
    )
    transport = httpx.ASGITransport(app=sign_in(service).asgi)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://compliance", headers=PLANNER
    ) as client:
        yield client


def project(pid: str, budget: Any) -> dict[str, Any]:
    return {"project_id": pid, "org_id": "sraphonthong", **registration(budget)}


async def test_http_refuses_a_budget_over_the_limit_with_422(api: httpx.AsyncClient) -> None:
    at_limit = await api.post("/v1/projects", json=project("P-MAX", f"{LIMIT_BAHT:,}.00"))
    over = await api.post("/v1/projects", json=project("P-OVER", f"{LIMIT_BAHT:,}.01"))
    digits = await api.post("/v1/projects", json=project("P-LONG", "1" * 20_000))
    changed = await api.post(
        "/v1/projects/P-MAX/events", json={"type": "budget_changed", "budget": LIMIT_BAHT + 1}
    )
    assert at_limit.status_code == 201, at_limit.text
    for r in (over, digits, changed):
        assert r.status_code == 422, r.text
        assert r.json()["details"][0]["field"] == "budget"
    assert (await api.get("/v1/projects/P-OVER")).status_code == 404


async def test_http_answers_a_20000_digit_json_number_with_400(api: httpx.AsyncClient) -> None:
    body = project("P-NUM", 1)
    raw = httpx.Request("POST", "http://x", json=body).content.replace(
        b'"budget":1', b'"budget":' + b"9" * 20_000
    )
    assert b"9" * 20_000 in raw
    r = await api.post("/v1/projects", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"


async def test_kafka_refuses_it_as_a_permanent_error_naming_the_field() -> None:
    h, repo = handlers()
    with pytest.raises(InvalidProjectEvent) as refused:
        await h.on_project_event(event("X", 1, "registered", **registration(LIMIT_BAHT + 1)))
    assert refused.value.field == "budget" and repo.store.docs == {}
