"""What routing asks to tell the citizen who left a contact (`notification.requested`, for
the adapter of the channel they came by: intake on LINE): an officer's question, what was
done, how it ended otherwise. Redacted, never a whistle-blower's findings, none without a
contact, and the same facts give the same events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.routing.domain.lifecycle import Fact, Resolved, StatusChanged
from services.routing.domain.model import Case, CategoryScore
from services.routing.outbound import emissions
from shared.events.intake import ENDED, QUESTION, RESOLVED
from shared.topics import Topic
from tests.routing.unit.test_handlers import NOW

CASE = "SPT-2569-000042"


def case(kind: str = "complaint", contact: str | None = "ct_abc") -> Case:
    c = Case(CASE, "sraphonthong", kind, "line", "ไฟถนนดับ หมู่ 4", NOW, contact_ref=contact)
    c.categories = [CategoryScore("lighting", "ไฟฟ้าแสงสว่าง", "Lighting", 0.9, ())]
    c.department = "public_works"
    return c


def told(c: Case, *facts: Fact) -> list[dict[str, Any]]:
    out = emissions(c, list(facts), None)
    return [e.event.payload.model_dump() for e in out if e.topic is Topic.NOTIFICATION_REQUESTED]


def asked(note: str | None, seq: int = 5) -> StatusChanged:
    return StatusChanged("in_progress", "pending_citizen", "request_info", "eng-1", note, seq)


def test_an_officers_question_is_asked_of_the_citizen_redacted() -> None:
    (payload,) = told(case(), asked("ขอรูปถ่ายเพิ่ม หรือโทรหาช่างสมศักดิ์ 0891234567"))
    assert payload["template"] == QUESTION and payload["channel"] == "line"
    assert payload["recipient_ref"] == "ct_abc"
    question = payload["params"]["question"]
    assert "ขอรูปถ่ายเพิ่ม" in question and "0891234567" not in question
    # The same fact again (a redelivered command): the same event, which LINE takes once.
    first = emissions(case(), [asked("x")], None)
    again = emissions(case(), [asked("x")], None)
    assert [e.key for e in first] == [e.key for e in again]
    assert [e.event.event_id for e in first] == [e.event.event_id for e in again]


def test_what_was_done_is_told_but_not_a_whistle_blowers_findings() -> None:
    c = case()
    c.resolution = "เปลี่ยนหลอดไฟแล้ว ติดต่อ 0891234567"
    c.resolved_at = NOW + timedelta(days=2)
    (payload,) = told(c, Resolved(7))
    assert payload["template"] == RESOLVED
    resolution = payload["params"]["resolution"]
    assert "เปลี่ยนหลอดไฟแล้ว" in resolution and "0891234567" not in resolution
    secret = case(kind="corruption_report")
    secret.resolution = "พบการเรียกรับเงินจริง"
    secret.resolved_at = NOW + timedelta(days=2)
    (payload,) = told(secret, Resolved(7))
    assert payload["template"] == RESOLVED and "resolution" not in payload["params"]


def test_an_ending_elsewhere_is_told_and_other_steps_are_not() -> None:
    sent_on = StatusChanged("in_progress", "transferred", "transfer", "eng-1", "ส่ง กฟภ.", 8)
    (payload,) = told(case(), sent_on)
    assert payload["template"] == ENDED and payload["params"]["status"] == "transferred"
    assert "note" not in payload["params"]
    started = StatusChanged("assigned", "in_progress", "start", "eng-1", None, 9)
    assert told(case(), started) == []


def test_nobody_to_tell_without_a_contact() -> None:
    assert told(case(contact=None), asked("ขอรูปถ่ายเพิ่ม")) == []
