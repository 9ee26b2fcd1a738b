"""A citizen's matter as routing sees it. Pure: no I/O, no framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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


# States in which the organisation still owes the citizen an answer: the clock runs.
OPEN_STATUSES = frozenset({
    Status.RECEIVED, Status.ASSIGNED, Status.ACKNOWLEDGED, Status.IN_PROGRESS,
    Status.PENDING_CITIZEN, Status.REOPENED, Status.TRANSFERRED,
})  # fmt: skip


@dataclass(frozen=True)
class CategoryScore:
    code: str
    label_th: str
    label_en: str
    score: float
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: datetime
    action: str
    status: str
    officer_id: str | None = None
    note: str | None = None


# The lists that only grow, how many of each newest entries a case keeps, and how many
# older ones make one filed chunk.
HISTORY_KINDS = ("timeline", "assignments", "escalations")
HISTORY_KEPT = 100
HISTORY_CHUNK = 50


@dataclass(frozen=True)
class HistoryChunk:
    """Entries of a case's history filed away: number `no` of its `kind`, never changed."""

    case_id: str
    kind: str
    no: int
    entries: list[Any]

    @property
    def chunk_id(self) -> str:
        return f"{self.case_id}#{self.kind}#{self.no}"


@dataclass(frozen=True)
class AssignmentRecord:
    no: int
    at: datetime
    department: str
    officer_id: str | None
    reasons: tuple[str, ...]
    cause: str  # receive | transfer | recategorize


@dataclass(frozen=True)
class Timer:
    """A durable due moment: stored on the case, fired once by the timer loop."""

    key: str  # unique per case and deadline epoch: a fired key never fires again
    kind: str  # acknowledge | warning | escalation
    due_at: datetime
    level: int = 0


@dataclass(frozen=True)
class Attachment:
    """What the citizen sent with the matter, by reference (a LINE message, a stored photo or
    scan, a URL): never the bytes, which stay where the channel keeps them."""

    kind: str  # image | document | audio | video | link
    ref: str


# A case keeps at most this many attachments (a LINE thread can send photos for weeks); the
# rest stay with the channel.
MAX_ATTACHMENTS = 20


@dataclass(frozen=True)
class EscalationRecord:
    level: int
    at: datetime
    to_role: str
    to_officer_id: str | None
    reason: str


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
    # Effective ranking, best first: the citizen's choice first when there was one.
    categories: list[CategoryScore] = field(default_factory=list)
    # The classifier's own ranking, kept even when the citizen chose.
    ranking: list[CategoryScore] = field(default_factory=list)
    category_source: str = "classifier"  # citizen | classifier | officer
    reasons: list[str] = field(default_factory=list)
    acknowledge_due_at: datetime | None = None
    respond_due_at: datetime | None = None
    escalation_level: int = 0
    duplicate_of: str | None = None
    likely_duplicate_of: str | None = None  # the nearest open report: what to merge into
    # The first report of that one's chain, so all reports of one problem name one case
    # (insight's linked hotspots); it may be closed by now, so it is not a merge target.
    duplicate_root: str | None = None
    duplicate_reason: str | None = None
    channel_message_id: str | None = None
    contact_ref: str | None = None
    village_no: int | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    service_code: str | None = None
    department_hint: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    accused_department: str | None = None
    assignment_no: int = 0
    assignments: list[AssignmentRecord] = field(default_factory=list)
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str | None = None
    after_photo_ref: str | None = None
    # The owner's reading of why it happened, at resolve (shared.taxonomy's causes).
    cause: str | None = None
    cause_note: str | None = None
    forwarded_to: str | None = None
    paused_since: datetime | None = None
    deadline_epoch: int = 1  # bumps when the clock restarts (reopen): old timers are void
    timers: list[Timer] = field(default_factory=list)
    fired_timers: list[str] = field(default_factory=list)
    escalations: list[EscalationRecord] = field(default_factory=list)
    applied_commands: list[str] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    assigned_at: datetime | None = None
    updated_at: datetime | None = None
    # The last timeline seq given out (entries filed away keep theirs).
    timeline_seq: int = 0
    # Entries of each history list filed away in chunks, oldest first (see file_history).
    filed: dict[str, int] = field(default_factory=dict)
    # Optimistic-concurrency version of the stored document (0 = never stored).
    version: int = 0

    @property
    def category(self) -> str | None:
        return self.categories[0].code if self.categories else None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def next_timer_at(self) -> datetime | None:
        return min((t.due_at for t in self.timers), default=None)

    def record(
        self, at: datetime, action: str, officer_id: str | None = None, note: str | None = None
    ) -> TimelineEntry:
        self.timeline_seq = max(
            self.timeline_seq, len(self.timeline) + self.filed.get("timeline", 0)
        )
        self.timeline_seq += 1
        entry = TimelineEntry(self.timeline_seq, at, action, self.status.value, officer_id, note)
        self.timeline.append(entry)
        self.updated_at = at
        return entry

    def file_history(self) -> list[HistoryChunk]:
        """Cut each history list to its newest entries; return the older ones, in chunks,
        for the store to file before the case. A case's document then stays the same size
        however long it lives (a transfer ping-pong, years of notes)."""
        chunks: list[HistoryChunk] = []
        for kind in HISTORY_KINDS:
            entries: list[Any] = getattr(self, kind)
            while len(entries) >= HISTORY_KEPT + HISTORY_CHUNK:
                filed = self.filed.get(kind, 0)
                chunks.append(
                    HistoryChunk(
                        self.case_id, kind, filed // HISTORY_CHUNK, entries[:HISTORY_CHUNK]
                    )
                )
                entries = entries[HISTORY_CHUNK:]
                self.filed[kind] = filed + HISTORY_CHUNK
            setattr(self, kind, entries)
        return chunks

    def attach(self, found: list[Attachment]) -> None:
        """Add what is not already on the case, up to MAX_ATTACHMENTS."""
        for a in found:
            if a not in self.attachments and len(self.attachments) < MAX_ATTACHMENTS:
                self.attachments.append(a)

    def is_overdue(self, now: datetime) -> bool:
        if not self.is_open or self.respond_due_at is None:
            return False
        # While waiting for the citizen the clock stands still at the moment it stopped.
        at = self.paused_since if self.paused_since is not None else now
        return at > self.respond_due_at
