"""Staff-entered and batch channels over HTTP on fakes: telephone, letters, suggestion
boxes, meetings, email, and the canonical submission endpoint (issue 2 rules)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from shared.roles import Role
from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import CLERK, NOW, World, contact
from tests.intake.unit.test_email import tis620_message
from tests.signing import OPERATOR, as_

CALL = {
    "caller_number": "๐๘๑-๒๓๔-๕๖๗๘",
    "caller_name": "นางสมศรี มีสุข",
    "officer_id": "desk-01",
    "call_time": "2569-05-16 09:30",
    "summary": "น้ำประปาไม่ไหลตั้งแต่เมื่อวาน หมู่ที่ ๒ บ้านโนนสว่าง",
}
LETTER = {
    "registration_no": "สปท ๐๐๔๕/๒๕๖๙",
    "received_date": "2569-05-14",
    "sender_name": "นายบุญมี ดีใจ",
    "sender_address": "บ้านเลขที่ 77 หมู่ 9 ต.สระโพนทอง",
    "scan_ref": "scan/2569/0045.pdf",
    "text": "ขอความอนุเคราะห์ซ่อมถนนเข้าหมู่บ้าน ชำรุดหนักหลังฝนตก",
    "kind": "ร้องเรียน",
}
BOX = {
    "box_id": "BOX-01",
    "location": "ศาลาประชาคม หมู่ 4",
    "opened_at": "2026-05-15T10:00:00+07:00",
    "committee": "ปลัด อบต.,หัวหน้าสำนักปลัด,ผู้ใหญ่บ้าน",
}
SLIPS = (
    "ลำดับ,ข้อความ,ประเภท,ชื่อ,เบอร์โทร,หมู่ที่\n"
    "1,อยากให้มีรถเก็บขยะสัปดาห์ละสองครั้ง,ข้อเสนอแนะ,,,4\n"
    "2,เจ้าหน้าที่บริการดีมาก,ชมเชย,นายดำ,0891234567,\n"
    "3,,,,,\n"
    "4,ขอทราบวันจ่ายเบี้ยผู้สูงอายุ,สอบถาม,,12,\n"
)
MEETING = {
    "activity_id": "ACT-2569-007",
    "title": "ประชาคมหมู่บ้านจัดทำแผนพัฒนาท้องถิ่น หมู่ 6",
    "held_at": "2569-05-10T13:00",
    "place": "ศาลาวัดบ้านหนองแวง",
    "village_no": 6,
    "attendees": {"ประชาชน": 84, "ผู้นำชุมชน": 7, "ส.อบต.": 2},
    "opinions": [
        {"no": 1, "text": "ควรขยายเขตไฟฟ้าไปถึงไร่นา", "kind": "suggestion"},
        {"no": 2, "text": "ถนนคอนกรีตที่สร้างปีที่แล้วดีมาก", "kind": "ความคิดเห็น"},
    ],
}


def received(world: World) -> list[dict[str, Any]]:
    return [e["payload"] for e in world.publisher.on(Topic.CASE_RECEIVED)]


async def test_phone_record_with_thai_digits_and_be_date() -> None:
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post("/v1/channels/phone", json=CALL)
        again = await c.post("/v1/channels/phone", json=CALL)  # entered twice by staff
    assert r.status_code == 202 and again.json()["duplicate"] is True
    (p,) = received(world)
    assert p["channel"] == "phone" and p["received_at"] == "2026-05-16T02:30:00Z"
    assert p["text"] == "น้ำประปาไม่ไหลตั้งแต่เมื่อวาน หมู่ที่ 2 บ้านโนนสว่าง"
    assert p["location"]["village_no"] == 2 and p["links"] == {"taken_by": "desk-01"}
    assert contact(world, p["contact_ref"])["phone"] == "+66812345678"
    assert "0812345678" not in str(world.publisher.sent)


async def test_letter_keeps_the_scan_and_only_the_village_of_the_sender() -> None:
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post("/v1/channels/letter", json=LETTER)
    assert r.status_code == 202
    (p,) = received(world)
    assert p["channel_message_id"] == "สปท ๐๐๔๕/๒๕๖๙" and p["kind"] == "complaint"
    assert p["attachments"] == [{"kind": "document", "ref": "scan/2569/0045.pdf"}]
    assert p["location"] == {"lat": None, "lon": None, "address": None, "village_no": 9}
    sent = " ".join(m.value.decode("utf-8") for m in world.publisher.sent)
    # Event ids and references are hex: take them out, or a "77" in one looks like a leak.
    words = re.sub(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b|\bct_[0-9a-f]+\b", " ", sent)
    assert "บุญมี" not in sent and "เลขที่" not in sent
    assert not re.search(r"(?<![0-9])77(?![0-9])", words)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/channels/phone", {**CALL, "summary": "  "}, "summary"),
        ("/v1/channels/phone", {**CALL, "caller_number": "12345"}, "phone"),
        ("/v1/channels/phone", {**CALL, "call_time": "เมื่อวาน"}, "call_time"),
        ("/v1/channels/letter", {**LETTER, "kind": "ขายของ"}, "kind"),
        ("/v1/channels/letter", {**LETTER, "received_date": "2099-01-01"}, "received_at"),
        ("/v1/channels/meeting", {**MEETING, "opinions": []}, "opinions"),
        (
            "/v1/channels/meeting",
            {**MEETING, "opinions": [{"no": 1, "text": "x", "kind": "complaint"}]},
            "kind",
        ),
    ],
)
async def test_malformed_records_are_refused_naming_the_field(
    path: str, body: dict[str, Any], field: str
) -> None:
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post(path, json=body)
    assert r.status_code == 422, r.text
    assert field in r.text
    assert world.publisher.sent == []


async def test_suggestion_box_batch_records_the_session_and_each_slip() -> None:
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post(
            "/v1/channels/suggestion-box",
            params=BOX,
            content=SLIPS.encode(),
            headers={"content-type": "text/csv"},
        )
        again = await c.post(
            "/v1/channels/suggestion-box",
            params=BOX,
            content=SLIPS.encode(),
            headers={"content-type": "text/csv"},
        )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["session_id"] == "BOX-01@20260515T1000"
    assert (body["accepted"], body["refused"]) == (2, 2)
    refused = {i["id"]: i["refused"] for i in body["items"] if "refused" in i}
    assert "text" in refused["BOX-01@20260515T1000/3"]
    assert "phone" in refused["BOX-01@20260515T1000/4"]
    assert all(i.get("duplicate") for i in again.json()["items"] if "case_id" in i)
    kinds = [p["kind"] for p in received(world)]
    assert kinds == ["suggestion", "compliment"]
    assert all(p["links"]["box_session_id"] == body["session_id"] for p in received(world))
    session = world.records.records[("box_sessions", "BOX-01@20260515T1000")]
    assert session["committee"] == ["ปลัด อบต.", "หัวหน้าสำนักปลัด", "ผู้ใหญ่บ้าน"]
    assert (session["accepted"], session["refused"]) == (2, 2)


async def test_suggestion_box_as_multipart_upload() -> None:
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post(
            "/v1/channels/suggestion-box",
            data=BOX,
            files={"file": ("slips.csv", SLIPS.encode(), "text/csv")},
        )
    assert r.status_code == 202, r.text and r.json()["accepted"] == 2


@pytest.mark.parametrize(
    ("params", "body", "ctype", "status"),
    [
        (BOX, "no,words\n1,x\n", "text/csv", 400),
        (BOX, "", "text/csv", 400),
        ({**BOX, "committee": ""}, SLIPS, "text/csv", 422),
        ({k: v for k, v in BOX.items() if k != "box_id"}, SLIPS, "text/csv", 422),
        (BOX, SLIPS, "application/json", 415),
    ],
)
async def test_malformed_box_uploads_are_refused_whole(
    params: dict[str, str], body: str, ctype: str, status: int
) -> None:
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post(
            "/v1/channels/suggestion-box",
            params=params,
            content=body.encode(),
            headers={"content-type": ctype},
        )
    assert r.status_code == status, r.text
    assert world.publisher.sent == []


async def test_meeting_minutes_become_linked_opinions_and_an_activity() -> None:
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post("/v1/channels/meeting", json=MEETING)
    assert r.status_code == 202 and r.json()["accepted"] == 2
    ps = received(world)
    assert [p["kind"] for p in ps] == ["suggestion", "opinion"]
    assert {p["links"]["activity_id"] for p in ps} == {"ACT-2569-007"}
    assert {p["location"]["village_no"] for p in ps} == {6}
    activity = world.records.records[("activities", "ACT-2569-007")]
    assert activity["attendee_total"] == 93
    assert {"group": "ส.อบต.", "count": 2} in activity["attendees"]


async def test_email_endpoint_takes_rfc822_only() -> None:
    world = World()
    async with client(world, OPERATOR) as c:
        ok = await c.post(
            "/v1/channels/email",
            content=tis620_message(),
            headers={"content-type": "message/rfc822"},
        )
        wrong = await c.post(
            "/v1/channels/email", content=tis620_message(), headers={"content-type": "text/plain"}
        )
        junk = await c.post(
            "/v1/channels/email", content=b"hello", headers={"content-type": "message/rfc822"}
        )
    assert ok.status_code == 202 and wrong.status_code == 415 and junk.status_code == 400
    assert len(received(world)) == 1


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"channel": "phone"}', 422, "text"),
        (b'{"channel": "phone", "text": "' + b"a" * 10_001 + b'"}', 422, "text"),
        (b'{"channel": "pigeon", "text": "x"}', 422, "channel"),
        (b'{"channel": "phone", "text": "x", "kind": "spam"}', 422, "kind"),
        (b'{"channel": "phone", "text": "x", "kind": "improvement_action"}', 422, "kind"),
    ],
)
async def test_canonical_submissions_keep_the_issue_2_rules(
    body: bytes, status: int, names: str
) -> None:
    world = World()
    async with client(world, OPERATOR) as c:
        r = await c.post(
            "/v1/submissions", content=body, headers={"content-type": "application/json"}
        )
    assert r.status_code == status and names in r.text
    assert world.publisher.sent == []


async def test_corruption_reports_are_anonymous_unless_contact_is_asked_for() -> None:
    world = World()
    base = {
        "channel": "web",
        "kind": "corruption_report",
        "text": "เจ้าหน้าที่เรียกรับเงินค่าออกใบอนุญาต นายสมปอง ใจร้าย",
        "contact": {"name": "ผู้แจ้ง", "phone": "0812345678"},
    }
    async with client(world, CLERK) as c:
        anon = await c.post("/v1/submissions", json={**base, "channel_message_id": "c1"})
        named = await c.post(
            "/v1/submissions", json={**base, "channel_message_id": "c2", "wants_contact": True}
        )
    assert anon.status_code == named.status_code == 202
    first, second = received(world)
    assert first["contact_ref"] is None and first["wants_contact"] is False
    assert second["contact_ref"] in world.vault.of("contact")
    assert len(world.vault.of("contact")) == 1
    public = [p["payload"]["text"] for p in world.publisher.on(Topic.PUBLIC_CASES)]
    assert all("สมปอง" not in t and "เรียกรับเงิน" not in t for t in public)


async def test_a_call_is_taken_by_the_officer_signed_in_unless_it_names_a_colleague() -> None:
    world = World()
    unnamed = {k: v for k, v in CALL.items() if k != "officer_id"}
    async with client(world, as_(Role.OFFICER, officer_id="desk-02")) as c:
        mine = await c.post("/v1/channels/phone", json={**unnamed, "call_id": "c-1"})
        theirs = await c.post("/v1/channels/phone", json={**CALL, "call_id": "c-2"})
    assert mine.status_code == theirs.status_code == 202
    assert [p["links"]["taken_by"] for p in received(world)] == ["desk-02", "desk-01"]


async def test_every_new_case_asks_for_an_acknowledgement_with_the_deadline() -> None:
    world = World()
    async with client(world, CLERK) as c:
        await c.post("/v1/channels/phone", json=CALL)
    (ack,) = [e["payload"] for e in world.publisher.on(Topic.NOTIFICATION_REQUESTED)]
    assert ack["template"] == "received" and ack["channel"] == "phone"
    assert ack["params"]["respond_due_at"] == "2026-05-31T02:30:00+00:00"
    assert ack["params"]["respond_due_th"] == "31 พฤษภาคม 2569"


async def test_channel_statistics_count_per_channel_month_and_kind() -> None:
    world = World()
    async with client(world, CLERK) as c:
        await c.post("/v1/channels/phone", json=CALL)
        await c.post("/v1/channels/letter", json=LETTER)
        await c.post("/v1/channels/meeting", json=MEETING)
        stats = (await c.get("/v1/channels")).json()
    assert [(c["channel"], c["total"]) for c in stats["channels"]] == [
        ("letter", 1),
        ("meeting", 2),
        ("phone", 1),
    ]
    assert stats["meets_assessment"] is False  # three channels, none online
    assert {"channel": "meeting", "month": "2026-05", "kind": "suggestion", "count": 1} in stats[
        "by_month"
    ]


async def test_a_retried_submission_with_an_idempotency_key_is_one_case() -> None:
    world = World()
    body = {"channel": "web", "text": "ท่อระบายน้ำอุดตัน หน้าตลาด หมู่ 7"}
    async with client(world, CLERK) as c:
        first = await c.post("/v1/submissions", json=body, headers={"Idempotency-Key": "t-1"})
        again = await c.post("/v1/submissions", json=body, headers={"Idempotency-Key": "t-1"})
        other = await c.post("/v1/submissions", json=body, headers={"Idempotency-Key": "t-2"})
    assert first.json()["case_id"] == again.json()["case_id"] != other.json()["case_id"]
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 2


async def test_a_retried_submission_without_any_id_is_one_case_on_its_day() -> None:
    """No message id and no Idempotency-Key (a client retrying after a timeout, a replayed
    dead letter): the content names the case, until the day is over."""
    world = World()
    body = {"channel": "web", "text": "ไฟฟ้าดับทั้งซอย หมู่ 2"}
    async with client(world, CLERK) as c:
        first = await c.post("/v1/submissions", json=body)
        again = await c.post("/v1/submissions", json=body)
        other = await c.post("/v1/submissions", json={**body, "text": "ไฟฟ้าดับทั้งซอย หมู่ 3"})
        world.clock.set(NOW + timedelta(days=1))
        tomorrow = await c.post("/v1/submissions", json=body)
    assert first.json()["case_id"] == again.json()["case_id"]
    assert len({first.json()["case_id"], other.json()["case_id"], tomorrow.json()["case_id"]}) == 3
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 3
