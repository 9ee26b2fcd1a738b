"""A citizen's matter as routing sees it. Pure: no I/O, no framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    PENDING_CITIZEN = "pending_citizen"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    TRANSFERRED = "transferred"
    DUPLICATE = "duplicate"
    NOT_OUR_RESPONSIBILITY = "not_our_responsibility"


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: datetime
    action: str
    status: str
    officer_id: str | None = None
    note: str | None = None


@dataclass
class Case:
    case_id: str
    org_id: str
    kind: str
    channel: str
    text: str
    received_at: datetime
    status: Status = Status.RECEIVED
    department: str | None = None
    officer_id: str | None = None
    categories: list[tuple[str, float]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    acknowledge_due_at: datetime | None = None
    respond_due_at: datetime | None = None
    escalation_level: int = 0
    duplicate_of: str | None = None
    channel_message_id: str | None = None
    contact_ref: str | None = None
    village_no: int | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    assigned_at: datetime | None = None
    updated_at: datetime | None = None
    # Optimistic-concurrency version of the stored document (0 = never stored).
    version: int = 0

    def record(self, at: datetime, action: str, officer_id: str | None = None,
               note: str | None = None) -> TimelineEntry:
        entry = TimelineEntry(len(self.timeline) + 1, at, action, self.status.value, officer_id, note)
        self.timeline.append(entry)
        self.updated_at = at
        return entry

    def is_overdue(self, now: datetime) -> bool:
        open_ = self.status not in (Status.RESOLVED, Status.CLOSED, Status.DUPLICATE,
                                    Status.NOT_OUR_RESPONSIBILITY)
        return open_ and self.respond_due_at is not None and now > self.respond_due_at
