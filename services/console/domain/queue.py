"""An officer's queue: the nearest deadline first, each case in a band with a colour and a
text label (the colour is never the only signal). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.thai import to_bangkok

# The statuses in which the citizen is still owed an answer (routing's OPEN_STATUSES less
# "received", which routing never leaves a case in): what a queue shows unless asked.
ACTIVE_STATUSES = ("assigned", "acknowledged", "in_progress", "reopened", "pending_citizen")


@dataclass(frozen=True)
class Band:
    key: str  # the CSS class
    label: str  # Thai, shown beside the colour
    rank: int  # for sorting bands, nearest first


OVERDUE = Band("overdue", "เลยกำหนด", 0)
TODAY = Band("today", "ครบกำหนดวันนี้", 1)
WEEK = Band("week", "ครบกำหนดในสัปดาห์นี้", 2)
LATER = Band("later", "ยังไม่ถึงกำหนด", 3)
PAUSED = Band("paused", "รอข้อมูลจากประชาชน (หยุดนับเวลา)", 4)
NONE = Band("none", "ไม่มีกำหนด", 5)


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def band_of(row: Mapping[str, Any], now: datetime) -> Band:
    """Overdue, due today (Bangkok's day), due within seven days, later; a case waiting for
    the citizen has its clock stopped, and a finished one owes nothing."""
    status = row.get("status")
    if status == "pending_citizen":
        return PAUSED
    due = parse_time(row.get("respond_due_at"))
    if status not in ACTIVE_STATUSES or due is None:
        return NONE
    if row.get("overdue") or due <= now:
        return OVERDUE
    if to_bangkok(due).date() == to_bangkok(now).date():
        return TODAY
    if due - now <= timedelta(days=7):
        return WEEK
    return LATER


@dataclass(frozen=True)
class Row:
    case: Mapping[str, Any]
    band: Band
    due: datetime | None
    received: datetime | None
    new: bool  # received since the person's last visit


def order(
    rows: Iterable[Mapping[str, Any]], now: datetime, last_visit: datetime | None
) -> list[Row]:
    """Nearest deadline first (overdue ones, most overdue first); cases without a running
    deadline last; ties by who came first, then by case number."""
    out = []
    seen: set[str] = set()
    for row in rows:
        case_id = str(row.get("case_id"))
        if case_id in seen:  # the same case in two pages of a changing list
            continue
        seen.add(case_id)
        received = parse_time(row.get("received_at"))
        out.append(
            Row(
                row,
                band_of(row, now),
                parse_time(row.get("respond_due_at")),
                received,
                last_visit is not None and received is not None and received > last_visit,
            )
        )
    far = datetime.max.replace(tzinfo=now.tzinfo)

    def key(r: Row) -> tuple[int, datetime, datetime, str]:
        running = r.band.key not in (PAUSED.key, NONE.key)
        return (
            0 if running else 1,
            (r.due or far) if running else far,
            r.received or far,
            str(r.case.get("case_id")),
        )

    return sorted(out, key=key)


def counts(rows: Iterable[Row]) -> dict[str, int]:
    out = {b.key: 0 for b in (OVERDUE, TODAY, WEEK, LATER, PAUSED, NONE)}
    out["new"] = 0
    for r in rows:
        out[r.band.key] += 1
        out["new"] += r.new
    return out
