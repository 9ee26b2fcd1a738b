"""Open311 GeoReport v2 conformance on fakes: discovery, POST rules and errors in the
spec's shape, GET filters, and no personal data in any answer."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.intake.channels.open311 import service_list
from shared.events.cases import (
    CaseAssigned,
    CaseAssignedPayload,
    CaseResolved,
    CaseResolvedPayload,
    CaseStatusChanged,
    CaseStatusChangedPayload,
    Channel,
    Kind,
    RankedCategory,
)
from shared.taxonomy import CATEGORIES
from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import API_KEY, NOW, World
from tests.intake.unit.helpers import contact as contact_of
from tests.intake.unit.test_privacy import PERSONAL

BASE = "/open311/v2"


def form(**extra: str) -> dict[str, str]:
    return {
        "api_key": API_KEY,
        "service_code": "road",
        "lat": "15.7201",
        "long": "103.5102",
        "description": "ถนนลูกรังเป็นหลุมลึก หมู่ที่ 5 รถล้มบ่อย ติดต่อ นายสมชาย ใจดี 081-234-5678",
        "email": "somchai@example.co.th",
        "first_name": "สมชาย",
        "last_name": "ใจดี",
        "phone": "081-234-5678",
        "device_id": "dev-1",
        "account_id": "acc-77",
        **extra,
    }


def assert_spec_error(r: Any, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and body
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status and body[0]["description"]


async def test_services_list_is_the_taxonomy() -> None:
    async with client(World()) as c:
        r = await c.get(f"{BASE}/services.json")
        definition = await c.get(f"{BASE}/services/water_supply.json")
        missing = await c.get(f"{BASE}/services/unknown_thing.json")
        xml = await c.get(f"{BASE}/services.xml")
    assert r.status_code == 200
    services = r.json()
    assert [s["service_code"] for s in services] == [c.code for c in CATEGORIES]
    road = next(s for s in services if s["service_code"] == "road")
    assert road["service_name"] == "ถนน" and road["type"] == "realtime"
    assert set(road) >= {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    attrs = definition.json()["attributes"]
    assert definition.json()["service_code"] == "water_supply"
    assert {a["code"] for a in attrs} == {"kind", "village_no", "wants_contact"}
    assert all(
        {"variable", "code", "datatype", "required", "order", "description"} <= set(a)
        for a in attrs
    )
    assert_spec_error(missing, 404)
    assert xml.status_code == 200 and xml.text.startswith("<?xml")


async def test_post_answers_the_case_id_and_keeps_personal_data_out() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(f"{BASE}/requests.json", data=form())
        assert r.status_code == 200, r.text
        (answer,) = r.json()
        assert set(answer) == {"service_request_id", "service_notice", "account_id"}
        assert answer["account_id"] == "acc-77"
        case_id = answer["service_request_id"]
        one = await c.get(f"{BASE}/requests/{case_id}.json")
    (view,) = one.json()
    assert view["service_request_id"] == case_id and view["status"] == "open"
    assert view["service_code"] == "road" and view["service_name"] == "ถนน"
    # Rounded as public.cases has it: a street, not a house.
    assert view["lat"] == 15.72 and view["long"] == 103.51
    assert view["requested_datetime"] == "2026-05-16T10:00:00+07:00"
    assert view["expected_datetime"] == "2026-05-31T10:00:00+07:00"
    text = json.dumps([r.json(), one.json()], ensure_ascii=False)
    for pattern in PERSONAL:
        assert not pattern.search(text)
    assert "สมชาย" not in text
    received = world.publisher.on(Topic.CASE_RECEIVED)[0]["payload"]
    assert received["service_code"] == "road" and received["channel"] == "open311"
    contact = contact_of(world, received["contact_ref"])
    assert contact["phone"] == "+66812345678" and contact["email"] == "somchai@example.co.th"


async def test_general_code_means_no_category_chosen() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(f"{BASE}/requests.json", data=form(service_code="general"))
    assert r.status_code == 200
    assert world.publisher.on(Topic.CASE_RECEIVED)[0]["payload"]["service_code"] is None


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"api_key": ""}, 403),
        ({"api_key": "wrong"}, 403),
        ({"service_code": ""}, 400),
        ({"service_code": "not_a_service"}, 404),
        ({"lat": "", "long": ""}, 400),
        ({"long": ""}, 400),
        ({"lat": "north"}, 400),
        ({"lat": "95"}, 400),
        ({"description": "ก" * 4001}, 400),  # Open311 has no 422
        ({"description": "   "}, 400),
        ({"email": "not-an-email"}, 400),
        ({"phone": "12"}, 400),
        ({"attribute[kind]": "spam"}, 400),
        ({"attribute[village_no]": "120"}, 400),
        ({"attribute[colour]": "red"}, 400),
        ({"media_url": "ftp://x/y.jpg"}, 400),
        ({"requested_datetime": "yesterday"}, 400),
    ],
)
async def test_bad_posts_get_the_spec_error_and_publish_nothing(
    change: dict[str, str], status: int
) -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(f"{BASE}/requests.json", data=form(**change))
    assert_spec_error(r, status)
    assert world.publisher.sent == [] and world.submissions.docs == {}


async def test_missing_api_key_field_is_403_and_json_body_is_400() -> None:
    world = World()
    data = form()
    del data["api_key"]
    async with client(world) as c:
        r = await c.post(f"{BASE}/requests.json", data=data)
        j = await c.post(f"{BASE}/requests.json", json=form())
        big = await c.post(
            f"{BASE}/requests.json",
            content=b"a=" + b"x" * 2_000_000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert_spec_error(r, 403)
    assert_spec_error(j, 400)
    assert_spec_error(big, 413)
    assert world.publisher.sent == []


async def test_address_alone_and_location_alternatives_are_accepted() -> None:
    world = World()
    async with client(world) as c:
        by_address = await c.post(
            f"{BASE}/requests.json",
            data=form(lat="", long="", address_string="บ้านเลขที่ 12/3 หมู่ 8 ต.สระโพนทอง"),
        )
        by_id = await c.post(f"{BASE}/requests.json", data=form(lat="", long="", address_id="A-1"))
        view = await c.get(f"{BASE}/requests/{by_address.json()[0]['service_request_id']}.json")
    assert by_address.status_code == 200 and by_id.status_code == 200
    assert view.json()[0]["address"] == "[บ้านเลขที่] หมู่ 8 ต.สระโพนทอง"


async def test_idempotency_key_gives_the_same_request_once() -> None:
    world = World()
    async with client(world) as c:
        a = await c.post(f"{BASE}/requests.json", data=form(), headers={"Idempotency-Key": "k1"})
        b = await c.post(f"{BASE}/requests.json", data=form(), headers={"Idempotency-Key": "k1"})
    assert a.json()[0]["service_request_id"] == b.json()[0]["service_request_id"]
    assert b.headers["Idempotent-Replayed"] == "true"
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 1


async def test_get_requests_filters_as_the_spec_says() -> None:
    world = World()
    async with client(world) as c:
        ids = []
        for n, (code, days) in enumerate([("road", 1), ("lighting", 2), ("road", 100)]):
            world.clock.set(NOW - timedelta(days=days))
            r = await c.post(
                f"{BASE}/requests.json",
                data=form(service_code=code),
                headers={"Idempotency-Key": f"g{n}"},
            )
            ids.append(r.json()[0]["service_request_id"])
        world.clock.set(NOW)
        default = await c.get(f"{BASE}/requests.json")
        roads = await c.get(f"{BASE}/requests.json", params={"service_code": "road"})
        by_ids = await c.get(
            f"{BASE}/requests.json", params={"service_request_id": f"{ids[2]},{ids[0]},SPT-0-0"}
        )
        window = await c.get(
            f"{BASE}/requests.json",
            params={"start_date": "2026-05-01T00:00:00+07:00", "end_date": "2026-05-15T00:00:00Z"},
        )
        too_long = await c.get(
            f"{BASE}/requests.json",
            params={"start_date": "2026-01-01T00:00:00+07:00", "end_date": "2026-05-15T00:00:00Z"},
        )
        closed = await c.get(f"{BASE}/requests.json", params={"status": "closed"})
        bad_date = await c.get(f"{BASE}/requests.json", params={"start_date": "16/05/2026"})
        bad_status = await c.get(f"{BASE}/requests.json", params={"status": "pending"})
        unknown = await c.get(f"{BASE}/requests/SPT-2569-999999.json")
    assert [v["service_request_id"] for v in default.json()] == [ids[0], ids[1]]  # 90 days
    assert [v["service_request_id"] for v in roads.json()] == [ids[0]]
    assert [v["service_request_id"] for v in by_ids.json()] == [ids[2], ids[0]]
    assert [v["service_request_id"] for v in window.json()] == [ids[1]]
    assert_spec_error(too_long, 400)  # the spec: no more than 90 days
    assert closed.json() == []
    assert_spec_error(bad_date, 400)
    assert_spec_error(bad_status, 400)
    assert_spec_error(unknown, 404)


def assigned_to_public_works(case_id: str, **over: Any) -> CaseAssigned:
    payload = CaseAssignedPayload(
        case_id=case_id,
        kind=Kind.COMPLAINT,
        channel=Channel.OPEN311,
        department="public_works",
        officer_id="eng-1",
        received_at=NOW,
        **over,
    )
    return CaseAssigned(org_id="sraphonthong", payload=payload)


def resolved_by_public_works(case_id: str, category: str, resolution: str) -> CaseResolved:
    payload = CaseResolvedPayload(
        case_id=case_id,
        kind=Kind.COMPLAINT,
        channel=Channel.OPEN311,
        department="public_works",
        officer_id="eng-1",
        category=category,
        contact_ref=None,
        resolution=resolution,
        received_at=NOW,
        resolved_at=NOW + timedelta(days=3),
        seq=4,
    )
    return CaseResolved(org_id="sraphonthong", payload=payload)


async def test_status_department_and_deadline_come_from_routing() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(f"{BASE}/requests.json", data=form(service_code="general"))
        case_id = r.json()[0]["service_request_id"]
        assigned = assigned_to_public_works(
            case_id,
            categories=(RankedCategory(code="road", score=0.9),),
            respond_due_at=NOW + timedelta(days=7),
        )
        resolved = resolved_by_public_works(
            case_id, "road", "ซ่อมแล้ว โดย นายช่างสมศักดิ์ โทร 0891234567"
        )
        await world.handlers.case_event(assigned)
        mid = (await c.get(f"{BASE}/requests/{case_id}.json")).json()[0]
        await world.handlers.case_event(resolved)
        await world.handlers.case_event(assigned)  # late and stale: ignored
        end = (await c.get(f"{BASE}/requests/{case_id}.json")).json()[0]
        closed = await c.get(f"{BASE}/requests.json", params={"status": "closed"})
    assert mid["agency_responsible"] == "กองช่าง" and mid["service_code"] == "road"
    assert mid["expected_datetime"] == "2026-05-23T10:00:00+07:00"
    assert end["status"] == "closed" and "0891234567" not in end["status_notes"]
    assert [v["service_request_id"] for v in closed.json()] == [case_id]
    public = [p["payload"] for p in world.publisher.on(Topic.PUBLIC_CASES)]
    assert [p["status"] for p in public] == ["received", "assigned", "resolved"]


def test_every_service_has_the_fields_of_the_spec() -> None:
    for s in service_list():
        assert s["metadata"] is True and isinstance(s["keywords"], str)


async def test_an_assignment_carrying_its_status_seq_makes_that_status_change_stale() -> None:
    """Routing announces an assignment as case.assigned and case.status_changed of one
    seq; intake's view takes both from the first, so the second writes nothing."""
    world = World()
    async with client(world) as c:
        r = await c.post(f"{BASE}/requests.json", data=form(service_code="general"))
        case_id = r.json()[0]["service_request_id"]
    assigned = assigned_to_public_works(case_id, status_seq=2)
    status = CaseStatusChanged(
        org_id="sraphonthong",
        payload=CaseStatusChangedPayload(
            case_id=case_id, from_status="received", to_status="assigned", action="assign", seq=2
        ),
    )
    assert await world.handlers.case_event(assigned) is True
    assert await world.handlers.case_event(status) is False
    later = status.model_copy(
        update={"payload": status.payload.model_copy(update={"seq": 3, "to_status": "in_progress"})}
    )
    assert await world.handlers.case_event(later) is True
    # Routing marks the status change of an assignment: taken from case.assigned alone.
    marked = status.model_copy(
        update={"payload": status.payload.model_copy(update={"seq": 4, "in_assignment": True})}
    )
    assert await world.handlers.case_event(marked) is False
    public = [p["payload"] for p in world.publisher.on(Topic.PUBLIC_CASES)]
    assert [p["status"] for p in public] == ["received", "assigned", "in_progress"]
