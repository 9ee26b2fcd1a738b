"""What an officer is told on LINE when a case is assigned or escalated to them. Pure.

The message names the case, its category and its reply deadline (a Buddhist-Era date) and
links to the case in the officers' console, where the officer signs in to see the rest. It
carries the case's redacted text at most, and none for a whistle-blower's report: a LINE chat
is read on a phone, in the open, and kept by LINE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from services.routing.domain.directory import Directory, OfficerStatus
from services.routing.domain.model import Case
from services.routing.domain.rules import is_corruption
from shared.redact import redact
from shared.taxonomy import by_code
from shared.thai import format_thai_date, to_bangkok

# Of the case's text, this many characters at most.
EXCERPT = 120
LEVELS = {1: "หัวหน้าส่วนราชการ", 2: "ปลัด อบต.", 3: "นายก อบต."}


@dataclass(frozen=True)
class OfficerMessage:
    officer_id: str
    to: str  # the officer's LINE user id
    text: str


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    local = to_bangkok(moment)
    return f"{format_thai_date(local)} เวลา {local:%H:%M} น."


def _category(code: str | None) -> str:
    try:
        return by_code(code or "").label_th
    except KeyError:
        return code or "ยังไม่ระบุ"


def _recipient(directory: Directory, officer_id: str | None) -> tuple[str, str] | None:
    officer = directory.officer(officer_id)
    if officer is None or officer.line_user_id is None:
        return None  # not on LINE: the console's queue tells them
    if officer.status is OfficerStatus.INACTIVE:
        return None
    return officer.id, officer.line_user_id


def _body(case: Case, category: str | None, due: datetime | None, console_url: str) -> str:
    lines = [
        f"เรื่อง {case.case_id}",
        f"ประเภท: {_category(category)}",
        f"กำหนดตอบประชาชน: {_when(due)}",
    ]
    if not (is_corruption(case.kind, case.category) or case.accused_department):
        text = redact(case.text).strip()
        if text:
            cut = text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
            lines.append(f"ใจความ: {cut}")
    lines.append(f"เปิดเรื่อง: {console_url.rstrip('/')}/cases/{quote(case.case_id, safe='')}")
    return "\n".join(lines)


def on_assignment(
    case: Case,
    officer_id: str | None,
    category: str | None,
    due: datetime | None,
    directory: Directory,
    console_url: str,
) -> OfficerMessage | None:
    """The message for the officer a case was assigned to; None when they are not on LINE."""
    found = _recipient(directory, officer_id)
    if found is None:
        return None
    head = "มีเรื่องร้องเรียนมอบหมายให้ท่าน"
    return OfficerMessage(*found, f"{head}\n{_body(case, category, due, console_url)}")


def on_escalation(
    case: Case, level: int, to_officer_id: str | None, directory: Directory, console_url: str
) -> OfficerMessage | None:
    """The message for whom a case was escalated to; None when they are not on LINE."""
    found = _recipient(directory, to_officer_id)
    if found is None:
        return None
    head = f"เรื่องถูกยกระดับถึงท่าน ({LEVELS.get(level, f'ระดับ {level}')}) โปรดติดตาม"
    return OfficerMessage(
        *found, f"{head}\n{_body(case, case.category, case.respond_due_at, console_url)}"
    )
