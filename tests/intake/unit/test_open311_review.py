"""Open311 GeoReport v2 after review: corruption protection, what a view may show, the
query's dates and lists, idempotency per client, and every refusal in the spec's shape."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from services.intake.channels.open311 import Open311Error
from services.intake.domain.model import Contact
from services.intake.domain.progress import CORRUPTION_TEXT
from services.intake.domain.record import without_contact
from shared.errors import WriteUncertain
from shared.events.cases import (
    CaseStatusChanged,
    CaseStatusChangedPayload,
    Kind,
    RankedCategory,
)
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import API_KEY, NOW, World
from tests.intake.unit.test_open311 import (
    BASE,
    assert_spec_error,
    assigned_to_public_works,
    form,
    resolved_by_public_works,
)

REQUESTS = f"{BASE}/requests.json"


def received(world: World) -> list[dict[str, Any]]:
    return [e["payload"] for e in world.publisher.on(Topic.CASE_RECEIVED)]


def public_cases(world: World) -> list[dict[str, Any]]:
    return [e["payload"] for e in world.publisher.on(Topic.PUBLIC_CASES)]


def assert_hidden(view: dict[str, Any]) -> None:
    assert view["description"] == CORRUPTION_TEXT
    for name in ("status_notes", "address", "address_id", "lat", "long", "media_url"):
        assert view[name] is None, name


# ---------------------------------------------------------------- 1, 2: corruption


async def test_the_corruption_service_is_a_protected_corruption_report() -> None:
    world = World()
    data = form(
        service_code="corruption",
        address_string="บ้านเลขที่ 9 หมู่ 2",
        media_url="https://example.org/p.jpg",
    )
    async with client(world) as c:
        r = await c.post(REQUESTS, data=data)
        case_id = r.json()[0]["service_request_id"]
        (view,) = (await c.get(f"{BASE}/requests/{case_id}.json")).json()
    assert r.status_code == 200
    assert_hidden(view)
    (got,) = received(world)
    assert got["kind"] == Kind.CORRUPTION_REPORT.value and got["contact_ref"] is None
    assert not [ref for ref in world.vault.entries if ref.startswith("ct_")]
    (public,) = public_cases(world)
    assert public["text"] == CORRUPTION_TEXT and public["lat"] is None


async def test_the_corruption_service_keeps_a_contact_only_when_asked() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(
            REQUESTS, data=form(service_code="corruption", **{"attribute[wants_contact]": "true"})
        )
    assert r.status_code == 200
    assert received(world)[0]["contact_ref"] is not None


async def test_a_complaint_routing_finds_to_be_corruption_is_hidden_from_then_on() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form(media_url="https://example.org/p.jpg"))
        case_id = r.json()[0]["service_request_id"]
        before = (await c.get(f"{BASE}/requests/{case_id}.json")).json()[0]
        await world.handlers.case_event(
            assigned_to_public_works(
                case_id, categories=(RankedCategory(code="corruption", score=0.9),)
            )
        )
        await world.handlers.case_event(
            resolved_by_public_works(case_id, "corruption", "ตรวจสอบแล้ว ผู้แจ้งคือคนในกอง")
        )
        after = (await c.get(f"{BASE}/requests/{case_id}.json")).json()[0]
        listed = (await c.get(REQUESTS, params={"status": "closed"})).json()
    assert before["lat"] is not None and before["media_url"]
    assert_hidden(after)
    assert_hidden(listed[0])
    last = public_cases(world)[-1]
    assert last["text"] == CORRUPTION_TEXT and last["lat"] is None and last["resolution"] is None


async def test_status_notes_are_shown_once_the_matter_is_closed_only() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form())
        case_id = r.json()[0]["service_request_id"]
        await world.handlers.case_event(
            CaseStatusChanged(
                org_id="sraphonthong",
                payload=CaseStatusChangedPayload(
                    case_id=case_id,
                    from_status="received",
                    to_status="in_progress",
                    action="start",
                    seq=2,
                    note="ช่างจะเข้าไปดูบ้านของผู้แจ้งพรุ่งนี้",
                ),
            )
        )
        (view,) = (await c.get(f"{BASE}/requests/{case_id}.json")).json()
    assert view["status"] == "open" and view["status_notes"] is None


# ---------------------------------------------------------------- 3: own name


async def test_the_senders_own_name_is_not_published() -> None:
    world = World()
    text = "สมชาย ใจดี บ้านเลขที่ 45 แจ้งว่าถนนหน้าบ้านสมชายพัง"
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form(description=text))
        case_id = r.json()[0]["service_request_id"]
        (view,) = (await c.get(f"{BASE}/requests/{case_id}.json")).json()
    published = json.dumps([view, public_cases(world), received(world)], ensure_ascii=False)
    assert "สมชาย" not in published and "ใจดี" not in published
    assert view["description"].startswith("[ชื่อ] [ชื่อ] [บ้านเลขที่] แจ้งว่า")


async def test_the_senders_own_name_is_not_published_from_the_web_form_either() -> None:
    world = World()
    body = {
        "channel": "web",
        "text": "ไฟถนนดับหน้าร้านของวิไลวรรณ โทรหา 0812345678 หรือ Wilai@Example.org",
        "contact": {"name": "วิไลวรรณ", "email": "wilai@example.org", "phone": "081 234 5678"},
    }
    async with client(world) as c:
        r = await c.post("/v1/submissions", json=body)
    assert r.status_code == 202, r.text
    text = public_cases(world)[0]["text"]
    assert "วิไลวรรณ" not in text and "0812345678" not in text and "Wilai" not in text


def test_own_contact_values_are_found_however_written() -> None:
    contact = Contact(name="Somchai Jaidee", phone="0812345678", email="s@example.org")
    text = "SOMCHAI at +66 81 234 5678, S@EXAMPLE.ORG; a (x) b"
    out = without_contact(text, contact)
    assert out == "[ชื่อ] at [เบอร์โทร], [อีเมล]; a (x) b"
    assert without_contact("ก ข", Contact(name="ก ข")) == "ก ข"  # one letter is no name
    # A title is no name: the mayor stays the mayor.
    assert without_contact("นายกฯ สมชาย", Contact(name="นาย สมชาย")) == "นายกฯ [ชื่อ]"


# ---------------------------------------------------------------- 5: village


@pytest.mark.parametrize("village", ["²", "①", "0", "100", "๑๐๐"])
async def test_a_village_that_is_no_number_from_1_to_99_is_400(village: str) -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form(**{"attribute[village_no]": village}))
    assert_spec_error(r, 400)
    assert world.publisher.sent == []


async def test_a_village_in_thai_digits_is_read() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form(**{"attribute[village_no]": "๕"}))
    assert r.status_code == 200
    assert received(world)[0]["location"]["village_no"] == 5


async def test_the_raw_path_refuses_a_bad_village_as_the_http_path_does() -> None:
    world = World()
    event = RawPayloadReceived(
        org_id="sraphonthong",
        payload=RawPayloadReceivedPayload(
            channel="open311",
            received_at=NOW,
            content_type="application/x-www-form-urlencoded",
            body=urlencode(form(**{"attribute[village_no]": "²"})),
        ),
    )
    with pytest.raises(Open311Error) as refused:
        await world.handlers.raw(event)
    assert refused.value.status == 400
    assert world.publisher.sent == []


# ---------------------------------------------------------------- 6, 10, 11, 12: the query


@pytest.mark.parametrize(
    "params",
    [
        {"end_date": "0001-01-01T00:00:00Z"},
        {"start_date": "9999-12-31T00:00:00Z"},
        {"start_date": "0001-01-01T00:00:00+07:00"},
        {"end_date": "9999"},
        {"start_date": "2026-02-30"},
        {"start_date": "2026-01-01", "end_date": "2026-05-01"},  # over 90 days
        {"start_date": "2026-05-10T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"},
    ],
)
async def test_dates_out_of_range_or_too_far_apart_are_400(params: dict[str, str]) -> None:
    async with client(World()) as c:
        r = await c.get(REQUESTS, params=params)
    assert_spec_error(r, 400)


async def test_date_only_values_are_bangkok_periods() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form())  # 2026-05-16 10:00 in Bangkok
        case_id = r.json()[0]["service_request_id"]
        found = {}
        for name, params in {
            "day": {"start_date": "2026-05-16", "end_date": "2026-05-16"},
            "month": {"start_date": "2026-05", "end_date": "2026-05"},
            "year": {"end_date": "2026"},
            "day after": {"start_date": "2026-05-17"},
            "day before": {"end_date": "2026-05-15"},
        }.items():
            answer = await c.get(REQUESTS, params=params)
            assert answer.status_code == 200, (name, answer.text)
            found[name] = [v["service_request_id"] for v in answer.json()]
    assert found == {
        "day": [case_id],
        "month": [case_id],
        "year": [],  # the 90 days before the end of 2026 do not reach May
        "day after": [],
        "day before": [],
    }


async def test_service_codes_and_statuses_may_be_declared_many_times() -> None:
    world = World()
    async with client(world) as c:
        ids = {}
        for code in ("road", "lighting", "water_supply"):
            r = await c.post(REQUESTS, data=form(service_code=code, description=f"เรื่อง {code}"))
            ids[code] = r.json()[0]["service_request_id"]
        comma = await c.get(REQUESTS, params={"service_code": "road,lighting"})
        repeated = await c.get(
            f"{REQUESTS}?service_code=road&service_code=water_supply&status=open&status=closed"
        )
        unknown = await c.get(REQUESTS, params={"service_code": "road,nothing"})
        closed_only = await c.get(f"{REQUESTS}?status=closed&status=closed")
    assert {v["service_request_id"] for v in comma.json()} == {ids["road"], ids["lighting"]}
    assert {v["service_request_id"] for v in repeated.json()} == {
        ids["road"],
        ids["water_supply"],
    }
    assert_spec_error(unknown, 400)
    assert closed_only.json() == []


async def test_a_request_id_asked_for_again_is_answered_once() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form())
        case_id = r.json()[0]["service_request_id"]
        answer = await c.get(
            f"{REQUESTS}?service_request_id={case_id},{case_id}&service_request_id={case_id}"
        )
    assert [v["service_request_id"] for v in answer.json()] == [case_id]


# ---------------------------------------------------------------- 7, 8: whose request


async def test_an_idempotency_key_is_one_clients_own() -> None:
    world = World()
    key = {"Idempotency-Key": "order-1"}
    async with client(world) as c:
        a = await c.post(REQUESTS, data=form(), headers=key)
        b = await c.post(
            REQUESTS, data=form(api_key="other-key", description="ไฟดับทั้งซอย"), headers=key
        )
        again = await c.post(REQUESTS, data=form(), headers=key)
        reused = await c.post(REQUESTS, data=form(description="อีกเรื่องหนึ่ง"), headers=key)
    assert a.status_code == b.status_code == again.status_code == 200
    assert a.json()[0]["service_request_id"] != b.json()[0]["service_request_id"]
    assert again.json()[0]["service_request_id"] == a.json()[0]["service_request_id"]
    assert_spec_error(reused, 400)
    assert len(received(world)) == 2


async def test_a_long_idempotency_key_is_accepted_and_still_one_request() -> None:
    world = World()
    key = {"Idempotency-Key": "k" * 500}
    async with client(world) as c:
        a = await c.post(REQUESTS, data=form(), headers=key)
        b = await c.post(REQUESTS, data=form(), headers=key)
    assert a.status_code == 200, a.text
    assert a.json()[0]["service_request_id"] == b.json()[0]["service_request_id"]
    assert len(received(world)) == 1


async def test_the_same_words_from_two_accounts_are_two_matters() -> None:
    world = World()
    async with client(world) as c:
        first = await c.post(REQUESTS, data=form())
        retry = await c.post(REQUESTS, data=form())
        other_account = await c.post(REQUESTS, data=form(account_id="acc-78"))
        other_device = await c.post(REQUESTS, data=form(device_id="dev-2"))
    ids = [r.json()[0]["service_request_id"] for r in (first, retry, other_account, other_device)]
    assert ids[0] == ids[1] and len(set(ids)) == 3
    published = json.dumps([received(world), public_cases(world)], ensure_ascii=False)
    assert "acc-7" not in published and "dev-" not in published


# ---------------------------------------------------------------- 13, 15, 16, 17, 18


async def test_a_crlf_counts_as_one_character_of_the_description() -> None:
    world = World()
    async with client(world) as c:
        fits = await c.post(REQUESTS, data=form(description="กขค\r\n" * 1_000))  # 4,000
        over = await c.post(REQUESTS, data=form(description="กขค\r\n" * 1_000 + "x"))
    assert fits.status_code == 200, fits.text
    assert_spec_error(over, 400)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": "ก" * 300}, "first_name"),
        ({"email": "a" * 245 + "@example.org"}, "email"),
        ({"phone": "12"}, "phone"),
    ],
)
async def test_a_contact_refusal_names_its_field(change: dict[str, str], field: str) -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form(**change))
    assert_spec_error(r, 400)
    assert r.json()[0]["description"].startswith(field)
    assert world.publisher.sent == []


async def test_an_address_id_comes_back_as_the_address_id() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form(lat="", long="", address_id="A-1"))
        (view,) = (await c.get(f"{BASE}/requests/{r.json()[0]['service_request_id']}.json")).json()
    assert view["address_id"] == "A-1" and view["address"] is None


async def test_a_long_web_text_is_cut_to_the_specs_length() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post("/v1/submissions", json={"channel": "web", "text": "ถนนพัง " * 1_400})
        case_id = r.json()["case_id"]
        (view,) = (await c.get(f"{BASE}/requests/{case_id}.json")).json()
    assert len(view["description"]) == 4_000


async def test_a_multivaluelist_attribute_is_read() -> None:
    world = World()
    async with client(world) as c:
        one = await c.post(REQUESTS, data=form(**{"attribute[kind][]": "suggestion"}))
        two = await c.post(
            REQUESTS,
            content=urlencode(
                [
                    *form().items(),
                    ("attribute[kind][]", "suggestion"),
                    ("attribute[kind]", "opinion"),
                ]
            ),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        unknown = await c.post(REQUESTS, data=form(**{"attribute[colour][]": "red"}))
        invalid = await c.post(REQUESTS, data=form(**{"attribute[kind][]": "spam"}))
    assert one.status_code == 200
    assert received(world)[0]["kind"] == "suggestion"
    for refused in (two, unknown, invalid):
        assert_spec_error(refused, 400)
    assert len(received(world)) == 1


# ---------------------------------------------------------------- 14, 19: refusals' shape


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_a_method_a_path_has_not_is_405_in_the_specs_shape(method: str) -> None:
    async with client(World()) as c:
        r = await c.request(method, REQUESTS)
    assert_spec_error(r, 405)
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


async def test_storage_faults_are_503_in_the_specs_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()

    async def lost(*_: Any) -> Any:
        raise ConnectionError("the database went away")

    async def unsure(*_: Any, **__: Any) -> Any:
        raise WriteUncertain("no answer to the write")

    async with client(world) as c:
        monkeypatch.setattr(world.submissions, "find", lost)
        listed = await c.get(REQUESTS)
        monkeypatch.setattr(world.submissions, "add", unsure)
        posted = await c.post(REQUESTS, data=form())
    for r in (listed, posted):
        assert_spec_error(r, 503)
        assert r.headers["retry-after"] == "1"


async def test_the_rate_limit_is_429_in_the_specs_shape_on_open311_only() -> None:
    async with client(World(), rate_limit_burst=1, rate_limit_exempt="") as c:
        await c.get(f"{BASE}/services.json")
        spec = await c.get(f"{BASE}/services.json")
        api = await c.get("/v1/channels")
    assert_spec_error(spec, 429)
    assert int(spec.headers["retry-after"]) >= 1
    assert api.status_code == 429 and api.json()["error"] == "rate_limited"


async def test_the_base_path_is_the_discovery_document() -> None:
    async with client(World()) as c:
        base = await c.get(BASE)
        slash = await c.get(f"{BASE}/")
    assert base.status_code == 200 and base.json()["endpoints"]
    assert slash.status_code == 200 and slash.json() == base.json()


async def test_api_key_stays_out_of_every_answer() -> None:
    world = World()
    async with client(world) as c:
        r = await c.post(REQUESTS, data=form(), headers={"Idempotency-Key": "x"})
        listed = await c.get(REQUESTS)
    text = json.dumps([r.json(), listed.json(), public_cases(world)], ensure_ascii=False)
    assert API_KEY not in text
