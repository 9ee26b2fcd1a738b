"""Routing's HTTP API on fakes: case view, work queues, actions, preview."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from services.routing.bootstrap import create_service
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.roles import Role
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import NOW, received
from tests.signing import EXECUTIVE, as_, sign_in

CASE = "SPT-2569-000001"


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, FakeCaseRepository]]:
    repo = FakeCaseRepository()
    svc = create_service(
        RoutingSettings(),
        cases=repo,
        directories=StaticDirectories(),
        ranker=FakeRanker(),
        clock=FixedClock(NOW),
    )
    await svc.handlers.on_case_received(received(CASE, location={"village_no": 5}))
    await svc.handlers.on_case_received(
        received(
            "SPT-2569-000002", text="ถนนพัง", channel="letter", received_at=NOW - timedelta(days=20)
        )
    )
    sign_in(svc)
    transport = httpx.ASGITransport(app=svc.asgi)
    # The executive sees every case; each action below is sent as the officer who takes it.
    async with httpx.AsyncClient(
        transport=transport, base_url="http://routing", headers=EXECUTIVE
    ) as client:
        yield client, repo


ANAN = as_(Role.OFFICER, officer_id="eng-anan", department="engineering")


async def test_a_case_shows_its_owner_reasons_deadlines_and_timeline(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    r = await client.get(f"/v1/cases/{CASE}")
    assert r.status_code == 200
    case = r.json()
    for key in (
        "case_id",
        "status",
        "kind",
        "channel",
        "received_at",
        "categories",
        "department",
        "officer",
        "reasons",
        "acknowledge_due_at",
        "respond_due_at",
        "overdue",
        "escalation_level",
        "duplicate_of",
        "timeline",
        "expected_datetime",
    ):
        assert key in case, key
    assert case["officer"] == {"id": "eng-anan", "name": "นายอนันต์ บุญเรือง"}  # หมู่ 5 area officer
    assert case["categories"][0]["label_th"] == "แสงสว่าง"
    assert case["overdue"] is False and case["expected_datetime"] == case["respond_due_at"]
    assert (await client.get("/v1/cases/SPT-0000-000000")).status_code == 404


async def test_work_queues_filter_and_page(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    overdue = (await client.get("/v1/cases", params={"overdue": "true"})).json()
    assert [c["case_id"] for c in overdue["items"]] == ["SPT-2569-000002"]
    assert overdue["items"][0]["escalation_level"] == 2
    mine = (await client.get("/v1/cases", params={"officer_id": "eng-anan"})).json()
    assert [c["case_id"] for c in mine["items"]] == [CASE] and mine["total"] == 1
    page = (
        await client.get("/v1/cases", params={"department": "engineering", "limit": 1, "offset": 1})
    ).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    rows = (await client.get("/v1/cases", params={"view": "summary", "overdue": "true"})).json()
    assert [(r["case_id"], r["overdue"], r["escalation_level"]) for r in rows["items"]] == [
        ("SPT-2569-000002", True, 2)
    ]
    assert (await client.get("/v1/cases", params={"view": "wide"})).status_code == 400
    assert (await client.get("/v1/cases", params={"limit": "x"})).status_code == 400
    assert (await client.get("/v1/cases", params={"overdue": "maybe"})).status_code == 400


async def test_actions_answer_409_422_and_404_with_the_reason(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _repo = api
    url = f"/v1/cases/{CASE}/actions"
    r = await client.post(url, json={"action": "close"}, headers=ANAN)
    assert r.status_code == 409 and "cannot close a case that is assigned" in r.json()["message"]
    r = await client.post(url, json={"action": "resolve", "officer_id": "eng-anan"}, headers=ANAN)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "params.resolution"
    # The officer is the one signed in: naming another is refused.
    r = await client.post(url, json={"action": "acknowledge", "officer_id": "ghost"}, headers=ANAN)
    assert r.status_code == 403
    r = await client.post(url, json={"officer_id": "eng-anan"}, headers=ANAN)
    assert r.status_code == 422
    r = await client.post(url, content=b"{not json", headers=ANAN)
    assert r.status_code == 400
    r = await client.post(
        "/v1/cases/SPT-0000-000000/actions", json={"action": "acknowledge"}, headers=ANAN
    )
    assert r.status_code == 404
    # Parameters may sit beside the action; the Idempotency-Key makes a retry harmless.
    body = {"action": "resolve", "resolution": "เปลี่ยนหลอดแล้ว"}
    first = await client.post(url, json=body, headers={"Idempotency-Key": "k-1", **ANAN})
    again = await client.post(url, json=body, headers={"Idempotency-Key": "k-1", **ANAN})
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "resolved" and first.json()["resolution"] == "เปลี่ยนหลอดแล้ว"
    assert len(again.json()["timeline"]) == len(first.json()["timeline"])


async def test_preview_decides_without_creating_anything(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, repo = api
    before = len(repo.store.docs)
    r = await client.post(
        "/v1/routing/preview", json={"text": "ขยะกองหน้าบ้าน หมู่ที่ ๓", "kind": "complaint"}
    )
    assert r.status_code == 200
    p = r.json()
    assert p["categories"][0]["code"] == "cleanliness"
    assert set(p["categories"][0]) >= {"code", "label_th", "label_en", "score"}
    assert p["department"] == {
        "code": "health",
        "name_th": "กองสาธารณสุขและสิ่งแวดล้อม",
        "name_en": "Public Health and Environment Division",
    }
    assert p["officer"] == {"id": "hlt-sanitation", "name": "นางสาวจิราพร คำภูมี"}
    assert p["reasons"] and len(repo.store.docs) == before
    assert (await client.post("/v1/routing/preview", json={"text": " "})).status_code == 422
    assert (await client.post("/v1/routing/preview", json={"txt": "x"})).status_code == 422


async def test_a_work_queue_asks_for_several_states_at_once(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    await client.post(
        f"/v1/cases/{CASE}/actions",
        json={"action": "acknowledge", "command_id": "q-1"},
        headers=as_(Role.OFFICER, officer_id="eng-anan", department="engineering"),
    )
    both = await client.get("/v1/cases?view=summary&status=assigned,acknowledged")
    assert {i["status"] for i in both.json()["items"]} == {"assigned", "acknowledged"}
    assert both.json()["total"] == 2
    one = await client.get("/v1/cases?view=summary&status=acknowledged")
    assert [i["case_id"] for i in one.json()["items"]] == [CASE]
    bad = await client.get("/v1/cases?status=assigned,sleeping")
    assert bad.status_code == 400 and "sleeping" in bad.json()["message"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("status=$ne", "status"),
        ("status=sleeping", "status"),
        ("kind=$gt", "kind"),
        ("channel=pigeon", "channel"),
        ("village_no=0", "village_no"),
        ("village_no=" + "9" * 23, "village_no"),
        ("village_no=%C2%B2", "village_no"),  # "²": a digit to str.isdigit, not to int()
    ],
)
async def test_a_filter_the_store_cannot_hold_is_400_not_an_empty_page(
    api: tuple[httpx.AsyncClient, FakeCaseRepository], query: str, named: str
) -> None:
    client, _ = api
    r = await client.get(f"/v1/cases?{query}")
    assert r.status_code == 400, r.text
    assert named in r.json()["message"]


async def test_a_head_reassigns_within_the_department_and_an_officer_may_not(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, repo = api
    head = as_(Role.HEAD, officer_id="eng-head", department="engineering")
    body = {"action": "reassign", "params": {"to_officer": "eng-wichai", "reason": "งานไฟฟ้า"}}
    refused = await client.post(f"/v1/cases/{CASE}/actions", json=body, headers=ANAN)
    assert refused.status_code == 403
    other_dept = {"action": "reassign", "params": {"to_officer": "fin-head"}}
    bad = await client.post(f"/v1/cases/{CASE}/actions", json=other_dept, headers=head)
    assert bad.status_code == 422 and "to_officer" in bad.text
    r = await client.post(f"/v1/cases/{CASE}/actions", json=body, headers=head)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["officer"]["id"] == "eng-wichai" and case["status"] == "assigned"
    assert any("reassigned to eng-wichai by eng-head" in x for x in case["reasons"])
    again = await client.post(
        f"/v1/cases/{CASE}/actions", json={**body, "command_id": "x"}, headers=head
    )
    assert again.status_code == 409
    stored = await repo.get(CASE)
    assert stored is not None and stored.assignment_no == 2


async def test_the_loaded_directory_is_shown_to_staff_and_operators_with_its_digest(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    r = await client.get("/v1/directory", headers=as_(Role.OPERATOR, subject="operator"))
    assert r.status_code == 200
    body = r.json()
    assert body["org_id"] == "sraphonthong" and len(body["digest"]) == 16
    assert {"id": "eng-anan", "department": "engineering"}.items() <= next(
        o for o in body["officers"] if o["id"] == "eng-anan"
    ).items()
    again = await client.get("/v1/directory", headers=ANAN)
    assert again.json()["digest"] == body["digest"]
    assert (await client.get("/v1/directory", headers=as_(Role.PLANNER))).status_code == 403


async def test_a_list_without_its_total_when_asked(
    api: tuple[httpx.AsyncClient, FakeCaseRepository],
) -> None:
    client, _ = api
    r = await client.get("/v1/cases?view=summary&total=false")
    assert r.status_code == 200 and r.json()["total"] is None and len(r.json()["items"]) == 2
    assert (await client.get("/v1/cases?view=summary")).json()["total"] == 2
