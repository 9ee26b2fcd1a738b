"""What a citizen who reported on LINE is told there: that the report was received (its case
number, the reply deadline, where to follow it), an officer's question, what was done or how
it ended otherwise, and the survey. Pure.

Only what the citizen already has or anyone may see on the public website: a case number,
Buddhist-Era dates, links. Never their words back, nor an officer's name: a chat is read on
a phone, in the open, and kept by LINE.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.events.intake import ANSWERED, ENDED, QUESTION, RECEIVED, RESOLVED, STATUS
from shared.taxonomy import CASE_STATUSES
from shared.thai import format_thai_date


def line_user(contact: Mapping[str, Any] | None) -> str | None:
    """The LINE user id of a contact from the vault; None if it has none (purged, or a
    contact given on another channel)."""
    if not contact:
        return None
    user = contact.get("line_user_id")
    return user if isinstance(user, str) and user else None


def track_url(portal_url: str, case_id: str) -> str:
    return f"{portal_url.rstrip('/')}/track/{quote(case_id, safe='')}"


def requested(template: str, params: Mapping[str, str], portal_url: str) -> str | None:
    """The text of a `notification.requested` for a citizen; None for a template that is not
    theirs (an officer's reminder) or a case number missing."""
    case_id = params.get("case_id")
    if not case_id:
        return None
    if template == RECEIVED:
        return received(case_id, _moment(params.get("respond_due_at")), portal_url)
    if template == QUESTION:
        return question(case_id, params.get("question"), portal_url)
    if template == RESOLVED:
        return resolved(case_id, params.get("resolution"), portal_url)
    if template == ENDED:
        return ended(case_id, params.get("status", ""), portal_url)
    if template == STATUS:
        return status(case_id, params.get("status"), portal_url)
    if template == ANSWERED:
        return answered(case_id, portal_url)
    return None


def answered(case_id: str, portal_url: str) -> str:
    """The citizen's answer to an officer's question joined the case."""
    return "\n".join(
        [
            f"ได้รับข้อมูลเพิ่มเติมของท่านสำหรับเรื่องเลขที่ {case_id} แล้ว ขอบคุณที่ให้ข้อมูล",
            "เจ้าหน้าที่จะดำเนินการต่อ",
            f"ติดตามเรื่อง: {track_url(portal_url, case_id)}",
        ]
    )


def status(case_id: str, code: str | None, portal_url: str) -> str:
    """The answer to a citizen who asked after a case by its number."""
    if code is None:
        return f"ไม่พบเรื่องเลขที่ {case_id}\nโปรดตรวจสอบเลขที่เรื่องอีกครั้ง หรือพิมพ์เล่าปัญหาเพื่อแจ้งเรื่องใหม่"
    name = CASE_STATUSES.get(code, (code, code))[0]
    return "\n".join(
        [f"เรื่องเลขที่ {case_id}", f"สถานะ: {name}", f"ดูรายละเอียด: {track_url(portal_url, case_id)}"]
    )


def _moment(value: str | None) -> datetime | None:
    """An ISO 8601 moment with its zone; anything else is left unsaid, not a failure."""
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def received(case_id: str, respond_due: datetime | None, portal_url: str) -> str:
    lines = ["ได้รับเรื่องของท่านแล้ว ขอบคุณที่แจ้งเข้ามา", f"เลขที่เรื่อง {case_id}"]
    if respond_due is not None:
        lines.append(f"เจ้าหน้าที่จะแจ้งผลภายในวันที่ {format_thai_date(respond_due)}")
    lines.append(f"ติดตามเรื่อง: {track_url(portal_url, case_id)}")
    return "\n".join(lines)


def survey(case_id: str, link: str, expires_at: datetime) -> str:
    return "\n".join(
        [
            f"เรื่องเลขที่ {case_id} ดำเนินการแล้ว",
            "โปรดช่วยประเมินความพึงพอใจต่อการให้บริการ (ไม่ถึง 1 นาที)",
            link,
            f"ตอบได้ถึงวันที่ {format_thai_date(expires_at)}",
        ]
    )


def question(case_id: str, asked: str | None, portal_url: str) -> str:
    """An officer's question to the citizen (routing's `request_info`, written in the console
    as "คำถามถึงผู้แจ้ง"); the citizen's next message in the chat joins the case."""
    lines = [f"เจ้าหน้าที่ขอข้อมูลเพิ่มเติมเกี่ยวกับเรื่องเลขที่ {case_id}"]
    if asked and asked.strip():
        lines.append(_cut(asked.strip()))
    lines += [
        "ตอบกลับในแชตนี้ได้เลย ข้อความหรือรูปถัดไปของท่านจะแนบกับเรื่องนี้",
        f"ติดตามเรื่อง: {track_url(portal_url, case_id)}",
    ]
    return "\n".join(lines)


def resolved(case_id: str, resolution: str | None, portal_url: str) -> str:
    """The case was resolved: what was done (the redacted resolution, none for a
    whistle-blower's report)."""
    lines = [f"เรื่องเลขที่ {case_id} ดำเนินการแก้ไขแล้ว"]
    if resolution and resolution.strip():
        lines.append(f"ผลการดำเนินการ: {_cut(resolution.strip())}")
    lines.append(f"ดูรายละเอียด: {track_url(portal_url, case_id)}")
    return "\n".join(lines)


# Where a case ends without being resolved here, and what the citizen is told (fixed
# sentences: the officer's reason is written for the file, not for the chat).
ENDINGS = {
    "transferred": "ได้ส่งต่อให้หน่วยงานที่รับผิดชอบดำเนินการแล้ว",
    "not_our_responsibility": "ไม่อยู่ในอำนาจหน้าที่ของหน่วยงานเรา เจ้าหน้าที่จะแนะนำหน่วยงานที่รับผิดชอบ",
    "duplicate": "ซ้ำกับเรื่องที่มีผู้แจ้งไว้แล้ว เจ้าหน้าที่จะดำเนินการในเรื่องเดิม",
}


def ended(case_id: str, status: str, portal_url: str) -> str | None:
    said = ENDINGS.get(status)
    if said is None:
        return None
    return "\n".join(
        [f"เรื่องเลขที่ {case_id} {said}", f"ดูรายละเอียด: {track_url(portal_url, case_id)}"]
    )


# Of an officer's words, this many characters at most (LINE takes 5,000 a message).
EXCERPT = 1000


def _cut(text: str) -> str:
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
