"""The console's pages over routing (and intake) on fakes: the signed-in person's own token
decides what is shown, the case offers its state's actions, a refusal reads as Thai."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from services.console.sessions import COOKIE
from shared.auth import TokenVerifier
from shared.clock import FixedClock
from tests.console.world import CONSOLE, ISSUER, Browser, hidden, world
from tests.intake.unit.api import service as intake_service
from tests.intake.unit.helpers import World as IntakeWorld

CASE = "SPT-2569-000001"


def forms(page: str) -> list[str]:
    return re.findall(r'name="action" value="([a-z_]+)"', page)


async def test_the_assigned_officer_acknowledges_from_the_case_page() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})  # หมู่ 5: eng-anan
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    page = await browser.get(f"/cases/{CASE}")
    assert page.status_code == 200
    assert forms(page.text) == [
        "acknowledge",
        "start",
        "request_info",
        "note",
        "transfer",
        "resolve",
    ]
    assert "ผลต่อกำหนดเวลา" in page.text
    fields = hidden(page.text)
    r = await browser.post(
        f"/cases/{CASE}/actions",
        {"csrf": fields["csrf"], "action": "acknowledge", "command_id": "c-1"},
    )
    assert str(r.url) == f"{CONSOLE}/cases/{CASE}"
    assert "บันทึกแล้ว: รับเรื่อง" in r.text
    assert (await w.repo.get(CASE)).status.value == "acknowledged"  # type: ignore[union-attr]
    # The next page offers what the new state allows, and no longer "acknowledge".
    assert "acknowledge" not in forms(r.text)


async def test_an_action_without_the_csrf_token_changes_nothing() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    r = await browser.post(f"/cases/{CASE}/actions", {"action": "acknowledge"})
    assert r.status_code == 403 and "แบบฟอร์มนี้หมดอายุ" in r.text
    assert (await w.repo.get(CASE)).status.value == "assigned"  # type: ignore[union-attr]


async def test_a_stale_form_gets_the_409_in_plain_thai() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    page = await browser.get(f"/cases/{CASE}")
    csrf = hidden(page.text)["csrf"]
    await browser.post(f"/cases/{CASE}/actions", {"csrf": csrf, "action": "acknowledge"})
    # The same form again, from a tab opened before: routing answers 409.
    r = await browser.post(f"/cases/{CASE}/actions", {"csrf": csrf, "action": "acknowledge"})
    assert r.status_code == 409
    assert "ทำรายการนี้ไม่ได้ในสถานะปัจจุบันของเรื่อง" in r.text
    assert "โหลดหน้าเรื่องใหม่" in r.text


async def test_a_required_field_left_empty_is_said_before_routing_is_asked() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    page = await browser.get(f"/cases/{CASE}")
    r = await browser.post(
        f"/cases/{CASE}/actions", {"csrf": hidden(page.text)["csrf"], "action": "resolve"}
    )
    assert r.status_code == 422 and "ข้อมูลที่กรอกยังไม่ครบ" in r.text and "resolution" in r.text


async def test_an_officer_of_another_department_sees_none_of_it() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("fin-head")
    queue = await browser.get("/queue")
    assert CASE not in queue.text
    page = await browser.get(f"/cases/{CASE}")
    assert page.status_code == 403 and "ไม่มีสิทธิ์" in page.text
    assert "ไฟถนนดับ" not in page.text


async def test_a_colleague_reads_the_case_redacted_and_without_actions() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5}, text="ไฟถนนดับ โทร 0812345678")
    browser = Browser(w)
    await browser.sign_in("eng-somchai")
    page = await browser.get(f"/cases/{CASE}")
    assert page.status_code == 200
    assert "0812345678" not in page.text and forms(page.text) == []
    assert "ไม่มีการดำเนินการที่ท่านทำได้" in page.text


async def test_the_head_sees_the_departments_queue_with_its_owner() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-head")
    page = await browser.get("/queue")
    assert CASE in page.text and "eng-anan" in page.text
    assert "เรื่องของส่วนราชการ" in page.text


async def test_the_queue_counts_new_cases_since_the_last_visit() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    visits = w.console.console.sessions.last_visits
    assert "eng-anan" in visits
    from datetime import UTC, datetime, timedelta

    from tests.routing.unit.test_handlers import NOW

    visits["eng-anan"] = (NOW - timedelta(hours=2)).timestamp()
    page = await browser.get("/queue")
    assert "เรื่องใหม่ตั้งแต่เข้าครั้งก่อน" in page.text and ": 1 เรื่อง" in page.text
    assert datetime.fromtimestamp(visits["eng-anan"], UTC) == NOW


def _intake(w: Any) -> Any:
    intake = intake_service(IntakeWorld())
    intake.api.state.verifier = TokenVerifier(ISSUER, "ruam", http=w.client)
    return intake


async def test_a_phone_call_ends_with_the_case_number_and_a_receipt_qr() -> None:
    w = world()
    intake = _intake(w)
    w.ports.apps[8001] = httpx.ASGITransport(app=intake.asgi)
    browser = Browser(w)
    await browser.sign_in("desk")
    form = await browser.get("/intake/phone")
    assert '<label for="summary">' in form.text and 'name="wants_contact"' in form.text
    fields = hidden(form.text)
    r = await browser.post(
        "/intake/phone",
        {
            **fields,
            "call_time": "2026-05-01T09:30",
            "caller_name": "นางมาลี",
            "caller_number": "0812345678",
            "summary": "น้ำประปาไม่ไหลสามวันแล้ว หมู่ 3",
            "kind": "complaint",
            "village_no": "3",
            "wants_contact": "yes",
        },
    )
    assert r.status_code == 200 and str(r.url).startswith(f"{CONSOLE}/receipt?case=")
    case_id = str(r.url).split("case=")[1]
    assert re.fullmatch(r"SPT-\d{4}-\d{6}", case_id)
    assert f"https://sraphonthong.example/track/{case_id}" in r.text and "<svg" in r.text
    # The receipt is the citizen's: nothing of the call's personal data is on it.
    assert "0812345678" not in r.text and "นางมาลี" not in r.text
    # A second post of the same form (a double click) is the same case.
    again = await browser.post(
        "/intake/phone",
        {
            **fields,
            "call_time": "2026-05-01T09:30",
            "summary": "น้ำประปาไม่ไหลสามวันแล้ว หมู่ 3",
            "caller_number": "0812345678",
            "caller_name": "นางมาลี",
            "village_no": "3",
            "wants_contact": "yes",
        },
    )
    assert str(again.url).endswith(case_id)


async def test_a_suggestion_box_keeps_a_running_count_and_sends_every_slip() -> None:
    w = world()
    intake = _intake(w)
    w.ports.apps[8001] = httpx.ASGITransport(app=intake.asgi)
    browser = Browser(w)
    await browser.sign_in("desk")
    page = await browser.get("/intake/box")
    csrf = hidden(page.text)["csrf"]
    page = await browser.post(
        "/intake/box",
        {
            "csrf": csrf,
            "step": "open",
            "box_id": "box-1",
            "location": "หน้าที่ทำการ อบต.",
            "opened_at": "2026-05-01T09:00",
            "committee": "นายก, ปลัด, ผู้ใหญ่บ้าน",
        },
    )
    assert "บันทึกแล้ว <strong>0</strong> ใบ" in page.text
    for text in ("ขอไฟทางหมู่ 2", "ถนนหมู่ 4 เป็นหลุม"):
        page = await browser.post("/intake/box", {"csrf": csrf, "step": "slip", "text": text})
    assert "บันทึกแล้ว <strong>2</strong> ใบ" in page.text
    done = await browser.post("/intake/box", {"csrf": csrf, "step": "send"})
    assert str(done.url).count("case=") == 2


async def test_an_unreachable_service_is_a_thai_503() -> None:
    w = world()
    browser = Browser(w)
    await browser.sign_in("desk")
    form = await browser.get("/intake/walk-in")
    r = await browser.post("/intake/walk-in", {**hidden(form.text), "text": "ขอถังขยะ"})
    assert r.status_code == 503 and "ติดต่อระบบงานไม่ได้ชั่วคราว" in r.text
    assert "ขอถังขยะ" in r.text  # what was typed stays in the form
    assert int(r.headers["retry-after"]) >= 1  # 503 is "try again": it says when


async def test_pages_carry_no_token_and_refuse_framing() -> None:
    w = world()
    browser = Browser(w)
    page = await browser.sign_in("eng-anan")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert COOKIE not in page.text


def _jpeg_with_gps() -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010E] = "house 12 of Malee"  # ImageDescription: words that must not survive
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


async def test_resolve_with_an_after_photo_cleaned_of_its_metadata() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    page = await browser.get(f"/cases/{CASE}")
    assert 'enctype="multipart/form-data"' in page.text
    photo = _jpeg_with_gps()
    assert b"Malee" in photo
    r = await browser.post(
        f"/cases/{CASE}/actions",
        {"csrf": hidden(page.text)["csrf"], "action": "resolve", "resolution": "เปลี่ยนหลอดไฟแล้ว"},
        files={"photo": ("after.jpg", photo, "image/jpeg")},
    )
    assert r.status_code == 200 and "บันทึกแล้ว: แจ้งผลการแก้ไข" in r.text
    case = await w.repo.get(CASE)
    assert case is not None and case.status.value == "resolved"
    assert case.after_photo_ref == "console-photo:p1"
    kept, of = w.photos.kept["p1"]
    assert of == CASE and b"Malee" not in kept and kept.startswith(b"\xff\xd8")
    shown = await browser.get("/photos/p1")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    # Another department's officer may not see the case, so not its photo either.
    other = Browser(w)
    await other.sign_in("fin-head")
    assert (await other.get("/photos/p1")).status_code == 403


async def test_a_file_that_is_not_an_image_is_refused_in_thai() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    page = await browser.get(f"/cases/{CASE}")
    r = await browser.post(
        f"/cases/{CASE}/actions",
        {"csrf": hidden(page.text)["csrf"], "action": "resolve", "resolution": "ซ่อมแล้ว"},
        files={"photo": ("x.jpg", b"not an image", "image/jpeg")},
    )
    assert r.status_code == 422 and "ไม่ใช่รูปภาพที่อ่านได้" in r.text
    assert (await w.repo.get(CASE)).status.value == "assigned"  # type: ignore[union-attr]


async def test_a_letter_and_a_meetings_issues_become_cases_with_receipts() -> None:
    w = world()
    intake = _intake(w)
    w.ports.apps[8001] = httpx.ASGITransport(app=intake.asgi)
    browser = Browser(w)
    await browser.sign_in("desk")
    form = await browser.get("/intake/letter")
    assert '<label for="received_date">' in form.text
    letter = await browser.post(
        "/intake/letter",
        {
            **hidden(form.text),
            "registration_no": "สพท 123/2569",
            "received_date": "2026-04-28",
            "sender_name": "นายสมศักดิ์",
            "scan_ref": "สารบรรณ 2569/0456",
            "text": "ขอให้ซ่อมถนนหมู่ 4 ที่ชำรุด",
        },
    )
    assert str(letter.url).count("case=") == 1 and "<svg" in letter.text
    form = await browser.get("/intake/meeting")
    meeting = await browser.post(
        "/intake/meeting",
        {
            **hidden(form.text),
            "activity_id": "ประชาคม-ม4-2569",
            "title": "ประชาคมหมู่ 4",
            "held_at": "2026-04-30T13:00",
            "village_no": "4",
            "attendees_ประชาชน": "42",
            "opinions": "ขอไฟทางเพิ่ม\nขอลอกคลอง\n\nขอรถเก็บขยะสัปดาห์ละสองครั้ง",
        },
    )
    assert str(meeting.url).count("case=") == 3  # three issues, the blank line is none


async def test_a_letter_dated_today_taken_in_before_nine_is_not_in_the_future() -> None:
    # 00:30 in Bangkok: the form's date is today's, and nine o'clock that day is still ahead.
    early = datetime(2026, 5, 15, 17, 30, tzinfo=UTC)
    w = world(now=early)
    taken = IntakeWorld(clock=FixedClock(early))
    intake = intake_service(taken)
    intake.api.state.verifier = TokenVerifier(ISSUER, "ruam", http=w.client)
    w.ports.apps[8001] = httpx.ASGITransport(app=intake.asgi)
    browser = Browser(w)
    await browser.sign_in("desk")
    form = await browser.get("/intake/letter")
    assert 'value="2026-05-16"' in form.text  # today, in Bangkok
    fields = {**hidden(form.text), "registration_no": "สพท 7/2569", "text": "ขอซ่อมไฟถนน"}
    letter = await browser.post("/intake/letter", {**fields, "received_date": "2026-05-16"})
    assert "/receipt?case=" in str(letter.url), letter.text[:300]
    received = [
        p.json()["payload"]["received_at"]
        for p in taken.publisher.sent
        if p.topic == "case.received"
    ]
    assert received[0] and datetime.fromisoformat(received[0]) == early  # not 09:00 that day
    tomorrow = await browser.post(
        "/intake/letter", {**fields, "key": "k2", "received_date": "2026-05-17"}
    )
    assert "/receipt" not in str(tomorrow.url) and "is in the future" in tomorrow.text


async def test_an_operator_lists_every_services_dead_letters() -> None:
    w = world()
    intake_world = IntakeWorld()
    await intake_world.dead.keep(
        {
            "_id": "intake.raw-0-7-abc",
            "reason": "invalid_payload",
            "source_topic": "intake.raw",
            "body": '{"phone": "0812345678"}',
            "replays": [],
        }
    )
    intake = intake_service(intake_world)
    intake.api.state.verifier = TokenVerifier(ISSUER, "ruam", http=w.client)
    w.ports.apps[8001] = httpx.ASGITransport(app=intake.asgi)
    browser = Browser(w)
    page = await browser.sign_in("operator")
    assert str(page.url) == f"{CONSOLE}/operator"
    assert "intake.raw-0-7-abc" in page.text and "invalid_payload" in page.text
    assert "0812345678" not in page.text  # bodies are shown one letter at a time
    assert "อ่านรายการของบริการนี้ไม่ได้" in page.text  # survey and compliance are not here
    # The directory routing has loaded, by its digest.
    assert re.search(r"ฉบับ <code>[0-9a-f]{16}</code> · 8 ส่วนราชการ", page.text), page.text


async def test_a_likely_duplicate_is_shown_side_by_side_and_merged() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    await w.receive("SPT-2569-000002", location={"village_no": 5})
    second = await w.repo.get("SPT-2569-000002")
    assert second is not None and second.likely_duplicate_of == CASE
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    page = await browser.get("/cases/SPT-2569-000002")
    assert "อาจเป็นเรื่องซ้ำ" in page.text and f'<a href="/cases/{CASE}">{CASE}</a>' in page.text
    fields = hidden(page.text)
    assert fields["duplicate_of"] == CASE
    merged = await browser.post(
        "/cases/SPT-2569-000002/actions",
        {"csrf": fields["csrf"], "action": "mark_duplicate", "duplicate_of": CASE},
    )
    assert "บันทึกแล้ว: รวมเป็นเรื่องซ้ำ" in merged.text
    after = await w.repo.get("SPT-2569-000002")
    assert after is not None and after.status.value == "duplicate" and after.duplicate_of == CASE


async def test_the_live_part_of_the_queue_counts_what_came_since() -> None:
    from datetime import timedelta

    from tests.routing.unit.test_handlers import NOW

    w = world()
    await w.receive(CASE, location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    since = (NOW - timedelta(hours=2)).isoformat()
    fresh = await browser.client.get(f"{CONSOLE}/queue/updates", params={"since": since})
    assert "มีเรื่องใหม่ 1 เรื่อง" in fresh.text
    later = (NOW + timedelta(minutes=1)).isoformat()
    quiet = await browser.client.get(f"{CONSOLE}/queue/updates", params={"since": later})
    assert "มีเรื่องใหม่" not in quiet.text


async def test_the_location_is_exact_for_the_officer_and_rounded_for_a_colleague() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5, "lat": 15.123456, "lon": 103.054321})
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    page = await officer.get(f"/cases/{CASE}")
    assert 'href="geo:15.123456,103.054321"' in page.text
    colleague = Browser(w)
    await colleague.sign_in("eng-somchai")
    page = await colleague.get(f"/cases/{CASE}")
    assert 'href="geo:15.123,103.054"' in page.text and "โดยประมาณ" in page.text
    assert "15.123456" not in page.text


async def test_a_head_reassigns_a_case_to_another_officer_of_the_department() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})  # eng-anan's
    await w.receive("SPT-2569-000003", location={"village_no": 1}, text="ถนนเป็นหลุม")
    browser = Browser(w)
    await browser.sign_in("eng-head")
    page = await browser.get(f"/cases/{CASE}")
    assert "มอบหมายให้เจ้าหน้าที่คนอื่น" in page.text
    assert '<option value="eng-somchai">' in page.text  # who else works the department's cases
    r = await browser.post(
        f"/cases/{CASE}/actions",
        {
            "csrf": hidden(page.text)["csrf"],
            "action": "reassign",
            "to_officer": "eng-somchai",
            "reason": "eng-anan ลาพักร้อน",
        },
    )
    assert "บันทึกแล้ว: มอบหมายให้เจ้าหน้าที่คนอื่น" in r.text
    stored = await w.repo.get(CASE)
    assert stored is not None and stored.officer_id == "eng-somchai"


async def test_a_mistyped_address_is_a_thai_page_and_a_script_keeps_json() -> None:
    w = world()
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    missing = await browser.client.get(CONSOLE + "/casse/SPT-2570-000001", headers=html)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "ไม่พบหน้านี้" in missing.text and 'href="/queue"' in missing.text
    # A form's address opened as a link: said in Thai, with the methods it takes.
    link = await browser.client.get(CONSOLE + "/auth/logout", headers=html)
    assert link.status_code == 405 and "เปิดหน้านี้ด้วยวิธีนี้ไม่ได้" in link.text
    assert link.headers["allow"] == "POST"
    script = await browser.client.get(CONSOLE + "/casse", headers={"Accept": "application/json"})
    assert script.status_code == 404 and script.json()["error"] == "not_found"
