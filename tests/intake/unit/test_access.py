"""Who may do what at intake (issue "Who may do what"), on fakes with signed tokens: every
route declares its access; anonymous callers get 401 and the wrong role 403 on every
endpoint that needs one; the web form stays open; forwarded channels need a service
account; a case's personal data goes to its officer, their head and the executives only,
each read on the audit trail first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.intake import http
from shared.access import Endpoint, unguarded
from shared.events.cases import Channel, RankedCategory
from shared.roles import Role
from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import CLERK, NOW, World, line_body, line_event, signed
from tests.intake.unit.test_channels import BOX, CALL, LETTER, MEETING, SLIPS
from tests.intake.unit.test_email import tis620_message
from tests.intake.unit.test_open311 import assigned_to_public_works
from tests.signing import AUDITOR, EXECUTIVE, OPERATOR, PLANNER, TEST_IDP, as_

HEAD = as_(Role.HEAD, department="public_works", officer_id="pw-head")
OFFICER = as_(Role.OFFICER, department="public_works", officer_id="eng-1")
JSON_CT = {"content-type": "application/json"}


def test_every_route_of_intake_declares_who_may_call_it() -> None:
    routes = http.routes()
    assert unguarded(routes) == []
    endpoints = [r for r in routes if isinstance(r, Endpoint)]
    public = {r.path for r in endpoints if r.access.public is not None}
    assert public == {
        "/v1/submissions",  # the web form; the handler asks the rest for a token
        "/channels/line/webhook",
        *(r.path for r in endpoints if r.path.startswith("/open311/")),
    }


STAFF = (Role.OFFICER, Role.HEAD, Role.EXECUTIVE)
BOX_UPLOAD = {"params": BOX, "content": SLIPS.encode(), "headers": {"content-type": "text/csv"}}
EMAIL = {"content": tis620_message(), "headers": {"content-type": "message/rfc822"}}
# (method, path, request kwargs, the roles allowed, a role refused)
GUARDED: list[tuple[str, str, dict[str, Any], tuple[Role, ...], Role]] = [
    ("GET", "/v1/channels", {}, (*STAFF, Role.AUDITOR), Role.PLANNER),
    ("POST", "/v1/channels/phone", {"json": CALL}, STAFF, Role.AUDITOR),
    ("POST", "/v1/channels/letter", {"json": LETTER}, STAFF, Role.OPERATOR),
    ("POST", "/v1/channels/meeting", {"json": MEETING}, STAFF, Role.PLANNER),
    ("POST", "/v1/channels/suggestion-box", BOX_UPLOAD, STAFF, Role.AUDITOR),
    ("POST", "/v1/channels/email", EMAIL, (Role.OPERATOR,), Role.EXECUTIVE),
    ("GET", "/v1/cases/SPT-2569-000001/personal", {}, STAFF, Role.AUDITOR),
    ("GET", "/v1/cases/SPT-2569-000001/media/5551234", {}, STAFF, Role.AUDITOR),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "allowed", "refused"), GUARDED)
async def test_anonymous_is_401_and_the_wrong_role_403(
    method: str, path: str, kwargs: dict[str, Any], allowed: tuple[Role, ...], refused: Role
) -> None:
    world = World()
    kwargs = dict(kwargs)  # the table is shared by every run
    headers = kwargs.pop("headers", {})
    async with client(world) as c:
        anonymous = await c.request(method, path, headers=headers, **kwargs)
        forged = await c.request(
            method, path, headers={**headers, "Authorization": "Bearer not.a.token"}, **kwargs
        )
        wrong = await c.request(method, path, headers={**headers, **as_(refused)}, **kwargs)
        right = await c.request(
            method, path, headers={**headers, **as_(allowed[0], officer_id="x")}, **kwargs
        )
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert forged.status_code == 401
    assert wrong.status_code == 403, wrong.text
    # Let past the guard: whatever it answers (404: no such case), it is not a refusal.
    assert right.status_code not in (401, 403), right.text


async def test_the_web_form_needs_no_token_and_a_token_changes_nothing() -> None:
    world = World()
    body = {"channel": "web", "text": "ไฟถนนดับ หมู่ 3", "channel_message_id": "w-1"}
    async with client(world) as c:
        anonymous = await c.post("/v1/submissions", json=body)
        signed_in = await c.post(
            "/v1/submissions", json={**body, "channel_message_id": "w-2"}, headers=AUDITOR
        )
    assert anonymous.status_code == signed_in.status_code == 202


SYSTEM_CHANNELS = [
    {"channel": "line", "text": "ไฟถนนดับ", "contact": {"line_user_id": "U" + "b" * 32}},
    {"channel": "open311", "text": "ถนนเป็นหลุม"},
    {"channel": "email", "text": "ขยะไม่เก็บ"},
    {"channel": "traffy", "text": "ท่ออุดตัน"},
    {"channel": "internal", "kind": "improvement_action", "text": "ปรับปรุงการเก็บขยะ"},
]


@pytest.mark.parametrize("body", SYSTEM_CHANNELS, ids=lambda b: b["channel"])
async def test_forwarded_channels_need_a_service_account(body: dict[str, Any]) -> None:
    world = World()
    body = {**body, "channel_message_id": f"{body['channel']}-1"}
    async with client(world) as c:
        anonymous = await c.post("/v1/submissions", json=body)
        officer = await c.post("/v1/submissions", json=body, headers=CLERK)
        executive = await c.post("/v1/submissions", json=body, headers=EXECUTIVE)
        operator = await c.post("/v1/submissions", json=body, headers=OPERATOR)
    assert anonymous.status_code == 401
    assert officer.status_code == executive.status_code == 403
    assert operator.status_code == 202, operator.text
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 1


async def test_a_forged_platform_action_is_refused_before_its_body_is_read() -> None:
    """Issue: `internal` + `improvement_action` forged a platform action anonymously."""
    world = World()
    forged = {"channel": "internal", "kind": "improvement_action", "text": "x", "bad": 1}
    async with client(world) as c:
        r = await c.post("/v1/submissions", json=forged)
        nobody = await c.post("/v1/submissions", json={"text": "no channel"})
    assert r.status_code == 401 and "bad" not in r.text
    assert nobody.status_code == 401
    assert world.publisher.sent == []


@pytest.mark.parametrize("channel", ["phone", "letter", "walk_in", "suggestion_box", "meeting"])
async def test_staff_enter_their_channels_through_the_canonical_endpoint_too(channel: str) -> None:
    world = World()
    body = {"channel": channel, "text": "น้ำประปาไม่ไหล หมู่ 2", "channel_message_id": "s-1"}
    async with client(world) as c:
        anonymous = await c.post("/v1/submissions", json=body)
        auditor = await c.post("/v1/submissions", json=body, headers=AUDITOR)
        planner = await c.post("/v1/submissions", json=body, headers=PLANNER)
        clerk = await c.post("/v1/submissions", json=body, headers=CLERK)
        service = await c.post(
            "/v1/submissions", json={**body, "channel_message_id": "s-2"}, headers=OPERATOR
        )
    assert anonymous.status_code == 401
    assert auditor.status_code == planner.status_code == 403
    assert clerk.status_code == service.status_code == 202


async def test_a_token_of_another_organisation_is_refused() -> None:
    world = World()
    elsewhere = as_(Role.EXECUTIVE, org_id="another-sao", officer_id="palad")
    async with client(world) as c:
        stats = await c.get("/v1/channels", headers=elsewhere)
        call = await c.post("/v1/channels/phone", json=CALL, headers=elsewhere)
        line = await c.post(
            "/v1/submissions", json={"channel": "line", "text": "x"}, headers=elsewhere
        )
    assert stats.status_code == call.status_code == line.status_code == 403
    assert world.publisher.sent == []


async def test_a_token_for_another_audience_or_issuer_is_401() -> None:
    world = World()
    audience = {"Authorization": f"Bearer {TEST_IDP.token(Role.EXECUTIVE, aud='other')}"}
    expired = {"Authorization": f"Bearer {TEST_IDP.token(Role.EXECUTIVE, exp=1_000_000)}"}
    async with client(world) as c:
        codes = [(await c.get("/v1/channels", headers=h)).status_code for h in (audience, expired)]
    assert codes == [401, 401]


# ---------------------------------------------------------------- GET .../personal

NAME, PHONE = "นางสมศรี มีสุข", "0812345678"
REPORT = {
    "channel": "web",
    "text": f"ถนนหน้าบ้านเป็นหลุมใหญ่ หมู่ 3 ติดต่อ{NAME} โทร {PHONE}",
    "contact": {"name": NAME, "phone": PHONE},
    "channel_message_id": "p-1",
}


async def _case(
    c: Any, world: World, body: dict[str, Any], *, assigned: bool = True, **over: Any
) -> str:
    """A case from `body`; assigned to eng-1 of public_works unless `assigned=False`."""
    r = await c.post("/v1/submissions", json=body)
    assert r.status_code == 202, r.text
    case_id: str = r.json()["case_id"]
    if assigned:
        await world.handlers.case_event(assigned_to_public_works(case_id, **over))
    return case_id


def audit_records(world: World) -> list[dict[str, Any]]:
    return [e["payload"] for e in world.publisher.on(Topic.AUDIT_TRAIL)]


async def test_the_case_reaches_kafka_redacted_and_its_words_stay_in_the_vault() -> None:
    world = World()
    async with client(world) as c:
        await _case(c, world, REPORT, assigned=False)
    (received,) = [e["payload"] for e in world.publisher.on(Topic.CASE_RECEIVED)]
    assert "original_text" not in received
    assert received["text"] == "ถนนหน้าบ้านเป็นหลุมใหญ่ หมู่ 3 ติดต่อ[ชื่อ] โทร [เบอร์โทร]"
    assert received["text_ref"].startswith("tx_") and received["contact_ref"].startswith("ct_")
    everything = " ".join(m.value.decode("utf-8") for m in world.publisher.sent)
    assert "สมศรี" not in everything and PHONE not in everything and "812345678" not in everything
    # Nor is it in the clear in the database: the vault holds it sealed.
    stored = str(world.submissions.docs) + str(world.vault.entries)
    assert "สมศรี" not in stored and "812345678" not in stored


@pytest.mark.parametrize(
    ("who", "status"),
    [
        (OFFICER, 200),  # the officer it is assigned to
        (HEAD, 200),  # the head of its department
        (EXECUTIVE, 200),
        (as_(Role.OFFICER, department="public_works", officer_id="eng-2"), 403),  # a colleague
        (as_(Role.HEAD, department="finance", officer_id="fin-head"), 403),
        (as_(Role.OFFICER, department="finance", officer_id="eng-1-fin"), 403),
        (AUDITOR, 403),
        (OPERATOR, 403),
        (PLANNER, 403),
        ({}, 401),
    ],
    ids=[
        "assigned-officer",
        "head",
        "executive",
        "colleague",
        "other-head",
        "other-officer",
        "auditor",
        "operator",
        "planner",
        "anonymous",
    ],
)
async def test_personal_data_for_the_officer_their_head_and_the_executives(
    who: dict[str, str], status: int
) -> None:
    world = World()
    async with client(world) as c:
        case_id = await _case(c, world, REPORT)
        r = await c.get(f"/v1/cases/{case_id}/personal", headers=who)
    assert r.status_code == status, r.text
    if status == 200:
        body = r.json()
        assert body["text"] == REPORT["text"]
        assert body["contact"] == {"name": NAME, "phone": "+66812345678"}
        assert r.headers["cache-control"] == "no-store"
        assert [a["action"] for a in audit_records(world)] == ["text.read", "contact.read"]
    else:
        assert NAME not in r.text and audit_records(world) == []


async def test_a_corruption_report_is_the_executives_alone() -> None:
    world = World()
    report = {**REPORT, "kind": "corruption_report", "wants_contact": True}
    async with client(world) as c:
        case_id = await _case(c, world, report)
        codes = {
            name: (await c.get(f"/v1/cases/{case_id}/personal", headers=h)).status_code
            for name, h in (("officer", OFFICER), ("head", HEAD), ("auditor", AUDITOR))
        }
        executive = await c.get(f"/v1/cases/{case_id}/personal", headers=EXECUTIVE)
    assert codes == {"officer": 403, "head": 403, "auditor": 403}
    assert executive.status_code == 200 and executive.json()["contact"]["name"] == NAME


async def test_a_complaint_routing_found_to_be_corruption_is_protected_too() -> None:
    world = World()
    async with client(world) as c:
        case_id = await _case(
            c,
            world,
            REPORT,
            categories=(RankedCategory(code="corruption", score=0.9),),
        )
        head = await c.get(f"/v1/cases/{case_id}/personal", headers=HEAD)
    assert head.status_code == 403


async def test_an_unassigned_case_is_for_the_executives_and_an_unknown_one_404() -> None:
    world = World()
    async with client(world) as c:
        case_id = await _case(c, world, REPORT, assigned=False)
        officer = await c.get(f"/v1/cases/{case_id}/personal", headers=OFFICER)
        executive = await c.get(f"/v1/cases/{case_id}/personal", headers=EXECUTIVE)
        unknown = await c.get("/v1/cases/SPT-2569-999999/personal", headers=EXECUTIVE)
    assert officer.status_code == 403 and executive.status_code == 200
    assert unknown.status_code == 404


async def test_each_read_is_on_the_audit_trail_before_it_is_shown() -> None:
    world = World()
    async with client(world) as c:
        case_id = await _case(c, world, REPORT)
        sent_before = len(world.publisher.sent)
        r = await c.get(f"/v1/cases/{case_id}/personal", headers=OFFICER)
    assert r.status_code == 200
    text_read, contact_read = audit_records(world)
    assert world.publisher.sent[sent_before].topic == Topic.AUDIT_TRAIL.value
    for record, action in ((text_read, "text.read"), (contact_read, "contact.read")):
        assert record["action"] == action and record["target"] == f"case:{case_id}"
        assert record["service"] == "intake" and record["officer_id"] == "eng-1"
        assert record["roles"] == ["officer"] and record["subject"] == "eng-1"
    assert NAME not in str(audit_records(world))


async def test_no_audit_trail_no_read() -> None:
    world = World()
    async with client(world) as c:
        case_id = await _case(c, world, REPORT)
        world.publisher.fail_next = 1
        r = await c.get(f"/v1/cases/{case_id}/personal", headers=OFFICER)
    assert r.status_code == 503 and r.json()["error"] == "audit_unavailable"
    assert NAME not in r.text


async def test_an_anonymous_case_reads_without_a_contact_and_audits_only_the_words() -> None:
    world = World()
    body = {k: v for k, v in REPORT.items() if k != "contact"}
    async with client(world) as c:
        case_id = await _case(c, world, body)
        r = await c.get(f"/v1/cases/{case_id}/personal", headers=OFFICER)
    assert r.json()["contact"] is None and r.json()["contact_given"] is False
    assert [a["action"] for a in audit_records(world)] == ["text.read"]


async def test_a_line_conversation_reads_back_with_each_message_in_the_citizens_words() -> None:
    world = World()
    user = "U" + "c" * 32
    first = line_event("L1", user=user, text="ไฟดับ หมู่ 3 ผมชื่อนายดำ ขำคม")
    second = line_event("L2", user=user, at=NOW + timedelta(minutes=1), text="โทร 0899999999")
    body = line_body(first, second)
    async with client(world) as c:
        hook = await c.post(
            "/channels/line/webhook",
            content=body,
            headers={"x-line-signature": signed(body), **JSON_CT},
        )
        case_id = hook.json()["events"][0]["case_id"]
        await world.handlers.case_event(assigned_to_public_works(case_id))
        r = await c.get(f"/v1/cases/{case_id}/personal", headers=OFFICER)
    body_read = r.json()
    assert body_read["channel"] == Channel.LINE.value
    assert body_read["text"] == "ไฟดับ หมู่ 3 ผมชื่อนายดำ ขำคม"
    assert [a["text"] for a in body_read["additions"]] == ["โทร 0899999999"]
    assert body_read["contact"] == {"line_user_id": user}
    everything = " ".join(m.value.decode("utf-8") for m in world.publisher.sent)
    assert user not in everything and "0899999999" not in everything and "ขำคม" not in everything
