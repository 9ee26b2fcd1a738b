"""Who may see and act on which case, over routing's HTTP API on fakes: departments, the
assigned officer, heads, executives, auditors, and the whistle-blower's report."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.routing.bootstrap import create_service
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.roles import Role
from shared.topics import Topic
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import NOW, received
from tests.signing import AUDITOR, EXECUTIVE, PLANNER, as_, sign_in

ROAD = "SPT-2569-000001"  # a กองช่าง (engineering) case, assigned to eng-anan (หมู่ 5)
REPORT = "SPT-2569-000002"  # a corruption report accusing กองช่าง
TEXT = "ไฟถนนดับ หมู่ 5 ติดต่อนายสมศักดิ์ มีชัย โทร 081-234-5678"

ANAN = as_(Role.OFFICER, officer_id="eng-anan", department="engineering")
SOMCHAI = as_(Role.OFFICER, officer_id="eng-somchai", department="engineering")
ENG_HEAD = as_(Role.HEAD, officer_id="eng-head", department="engineering")
FINANCE = as_(Role.OFFICER, officer_id="fin-revenue", department="finance")
FIN_HEAD = as_(Role.HEAD, officer_id="fin-head", department="finance")


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, FakeCaseRepository]]:
    repo = FakeCaseRepository()
    svc = sign_in(
        create_service(
            RoutingSettings(),
            cases=repo,
            directories=StaticDirectories(),
            ranker=FakeRanker(),
            clock=FixedClock(NOW),
        )
    )
    await svc.handlers.on_case_received(received(ROAD, text=TEXT, location={"village_no": 5}))
    await svc.handlers.on_case_received(
        received(
            REPORT,
            kind="corruption_report",
            text="ผู้อำนวยการกองช่างเรียกรับเงินจากผู้รับเหมา ถนนหมู่ 4",
        )
    )
    transport = httpx.ASGITransport(app=svc.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
        yield client, repo


async def test_finance_cannot_read_or_act_on_an_engineering_case(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    for who in (FINANCE, FIN_HEAD):
        assert (await client.get(f"/v1/cases/{ROAD}", headers=who)).status_code == 403
        r = await client.post(
            f"/v1/cases/{ROAD}/actions", json={"action": "acknowledge"}, headers=who
        )
        assert r.status_code == 403
        history = await client.get(f"/v1/cases/{ROAD}/history/timeline/0", headers=who)
        assert history.status_code == 403
        # Their list is their department's, and asking for another's is refused, not empty.
        mine = (await client.get("/v1/cases", headers=who)).json()
        assert mine["items"] == [] and mine["total"] == 0
        other = await client.get("/v1/cases", params={"department": "engineering"}, headers=who)
        assert other.status_code == 403


async def test_an_officer_acts_on_their_own_cases_and_a_head_on_the_departments(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, repo = api
    url = f"/v1/cases/{ROAD}/actions"
    # A colleague of the same department sees the case but may not act on it.
    assert (await client.get(f"/v1/cases/{ROAD}", headers=SOMCHAI)).status_code == 200
    r = await client.post(url, json={"action": "acknowledge"}, headers=SOMCHAI)
    assert r.status_code == 403 and "not yours" in r.json()["message"]
    r = await client.post(url, json={"action": "acknowledge"}, headers=ANAN)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    # The head acts on any case of the department; the planner and the auditor on none.
    r = await client.post(url, json={"action": "note", "note": "ตรวจแล้ว"}, headers=ENG_HEAD)
    assert r.status_code == 200
    for who in (AUDITOR, PLANNER):
        assert (await client.post(url, json={"action": "note"}, headers=who)).status_code == 403
    # Each act is on the audit trail, with who did it and the state before and after.
    trail = [e["payload"] for e in repo.publisher.on(Topic.AUDIT_TRAIL)]
    assert [(t["action"], t["officer_id"]) for t in trail] == [
        ("case.acknowledge", "eng-anan"),
        ("case.note", "eng-head"),
    ]
    assert trail[0]["before"]["status"] == "assigned"
    assert trail[0]["after"]["status"] == "acknowledged"
    assert trail[0]["target"] == f"case:{ROAD}" and trail[0]["roles"] == ["officer"]


async def test_personal_data_is_shown_to_the_owner_the_head_and_the_executives_only(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    for who in (ANAN, ENG_HEAD, EXECUTIVE):
        case = (await client.get(f"/v1/cases/{ROAD}", headers=who)).json()
        assert case["personal_data"] is True and "081-234-5678" in case["text"]
    for who in (SOMCHAI, AUDITOR):
        case = (await client.get(f"/v1/cases/{ROAD}", headers=who)).json()
        assert case["personal_data"] is False
        assert "081-234-5678" not in case["text"] and "สมศักดิ์" not in case["text"]
        assert "ไฟถนนดับ" in case["text"]
    listed = (await client.get("/v1/cases", headers=AUDITOR)).json()["items"]
    assert all("081-234-5678" not in c["text"] for c in listed)


async def test_a_corruption_report_is_the_executives_alone(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    report = (await client.get(f"/v1/cases/{REPORT}", headers=EXECUTIVE)).json()
    assert report["department"] == "executive" and report["accused_department"] == "engineering"
    # The accused division sees nothing of it, not even in its lists.
    for who in (ENG_HEAD, ANAN, SOMCHAI, FIN_HEAD):
        assert (await client.get(f"/v1/cases/{REPORT}", headers=who)).status_code == 403
        items = (await client.get("/v1/cases", headers=who)).json()["items"]
        assert REPORT not in [c["case_id"] for c in items]
    # Auditors read it redacted and may not act; no path gives it to a division.
    audited = (await client.get(f"/v1/cases/{REPORT}", headers=AUDITOR)).json()
    assert audited["personal_data"] is False
    url = f"/v1/cases/{REPORT}/actions"
    assert (await client.post(url, json={"action": "note"}, headers=AUDITOR)).status_code == 403
    for action, params in (
        ("recategorize", {"category": "road"}),
        ("transfer", {"department": "engineering"}),
    ):
        r = await client.post(url, json={"action": action, "params": params}, headers=EXECUTIVE)
        assert r.status_code == 409, r.text


async def test_another_organisations_staff_see_and_do_nothing_here(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    elsewhere = as_(Role.EXECUTIVE, officer_id="palad", department="executive", org_id="other")
    assert (await client.get(f"/v1/cases/{ROAD}", headers=elsewhere)).status_code == 403
    assert (await client.get("/v1/cases", headers=elsewhere)).json()["total"] == 0
    r = await client.post(f"/v1/cases/{ROAD}/actions", json={"action": "note"}, headers=elsewhere)
    assert r.status_code == 403
