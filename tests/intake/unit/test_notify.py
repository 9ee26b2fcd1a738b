"""The words a citizen reads on LINE (services/intake/domain/notify.py): Thai, Buddhist-Era
dates, a link to follow the case, and nothing that fails on a field it cannot read."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake.domain import notify
from services.intake.domain.rules import asked_case
from shared.events.intake import ENDED, QUESTION, RECEIVED, RESOLVED, STATUS

PORTAL = "https://sraphonthong.example/"
CASE = "SPT-2569-000123"


def test_the_acknowledgement_gives_the_number_the_deadline_and_the_link() -> None:
    due = datetime(2026, 5, 31, 3, 0, tzinfo=UTC)
    text = notify.requested(RECEIVED, {"case_id": CASE, "respond_due_at": due.isoformat()}, PORTAL)
    assert text is not None
    assert f"เลขที่เรื่อง {CASE}" in text and "31 พฤษภาคม 2569" in text
    assert f"https://sraphonthong.example/track/{CASE}" in text


def test_a_deadline_it_cannot_read_is_left_out_not_a_failure() -> None:
    for due in ("not a date", "2026-05-31T10:00:00", ""):
        text = notify.requested(RECEIVED, {"case_id": CASE, "respond_due_at": due}, PORTAL)
        assert text is not None and CASE in text and "ภายในวันที่" not in text


def test_each_template_and_what_is_not_the_citizens() -> None:
    question = notify.requested(QUESTION, {"case_id": CASE, "question": "ขอรูปเพิ่ม"}, PORTAL)
    assert question is not None and "ขอรูปเพิ่ม" in question and "ตอบกลับในแชตนี้" in question
    long = notify.requested(QUESTION, {"case_id": CASE, "question": "ก" * 6000}, PORTAL)
    assert long is not None and len(long) < 5000  # LINE takes 5,000 characters a message
    done = notify.requested(RESOLVED, {"case_id": CASE, "resolution": "ซ่อมแล้ว"}, PORTAL)
    assert done is not None and "ผลการดำเนินการ: ซ่อมแล้ว" in done
    for status in ("transferred", "not_our_responsibility", "duplicate"):
        ended = notify.requested(ENDED, {"case_id": CASE, "status": status}, PORTAL)
        assert ended is not None and CASE in ended
    assert notify.requested(ENDED, {"case_id": CASE, "status": "in_progress"}, PORTAL) is None
    assert notify.requested("citizen_followup", {"case_id": CASE}, PORTAL) is None
    assert notify.requested(QUESTION, {"question": "ไม่มีเลขที่เรื่อง"}, PORTAL) is None


def test_a_contact_without_a_line_id_has_no_one_to_push_to() -> None:
    assert notify.line_user({"line_user_id": "U" + "a" * 32}) == "U" + "a" * 32
    assert notify.line_user({"phone": "+66812345678"}) is None
    assert notify.line_user(None) is None and notify.line_user({"line_user_id": 5}) is None


def test_a_message_that_is_only_a_case_number_asks_after_it() -> None:
    for text in (
        "SPT-2569-000123",
        "ติดตามเรื่อง spt-๒๕๖๙-๑๒๓ ครับ",
        "ขอติดตาม SPT - 2569 - 123 ค่ะ",
        "เลขที่ SPT-2569-000123?",
    ):
        assert asked_case(text, "SPT") == CASE, text
    for other in (
        "ไฟดับ SPT-2569-000123",  # a report that names a case is a report
        "SPT-2569-000123 ไฟยังดับอยู่",
        "ABC-2569-000123",  # another organisation's number
        "SPT-2569-1234567",
        "",
        None,
    ):
        assert asked_case(other, "SPT") is None, other


def test_the_answer_to_a_case_number_is_its_public_status() -> None:
    found = notify.requested(STATUS, {"case_id": CASE, "status": "in_progress"}, PORTAL)
    assert found is not None and "สถานะ: กำลังดำเนินการ" in found and f"/track/{CASE}" in found
    missing = notify.requested(STATUS, {"case_id": CASE}, PORTAL)
    assert missing is not None and "ไม่พบเรื่องเลขที่" in missing
