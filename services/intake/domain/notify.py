"""What a citizen who reported on LINE is told there: that the report was received, its case
number, the reply deadline and where to follow it; and, once it is resolved, the survey. Pure.

Only what the citizen already has or anyone may see on the public website: a case number,
Buddhist-Era dates, links. Never their words back, nor an officer's name: a chat is read on
a phone, in the open, and kept by LINE.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.thai import format_thai_date

# The notification intake asks for when it opens a case (domain/record.py).
RECEIVED = "received"


def line_user(contact: Mapping[str, Any] | None) -> str | None:
    """The LINE user id of a contact from the vault; None if it has none (purged, or a
    contact given on another channel)."""
    if not contact:
        return None
    user = contact.get("line_user_id")
    return user if isinstance(user, str) and user else None


def track_url(portal_url: str, case_id: str) -> str:
    return f"{portal_url.rstrip('/')}/track/{quote(case_id, safe='')}"


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
