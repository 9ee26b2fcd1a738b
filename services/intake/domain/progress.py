"""What intake knows of a case after routing took it (event-carried state). Pure.

Open311 answers status, department and deadline from here, and `public.cases`
republishes the redacted view on each change. Events of one case come on several
topics, so their order between topics is not guaranteed: each carries a counter
(`assignment_no`, `seq`) and anything not newer than what was applied is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.events.cases import (
    CaseAssigned,
    CaseClosed,
    CaseResolved,
    CaseStatusChanged,
    Kind,
)
from shared.redact import redact

# The default legal deadline for answering a citizen, until routing sets the real one.
DEFAULT_RESPONSE_DAYS = 15
CLOSED_STATUSES = frozenset({"resolved", "closed", "duplicate", "not_our_responsibility"})
# An officer asked the citizen something (routing's `request_info`): the clock waits.
AWAITING_CITIZEN = "pending_citizen"
# Routing's category for a matter of corruption, whatever kind it came in as.
CORRUPTION_CATEGORY = "corruption"
CORRUPTION_TEXT = "(เรื่องร้องเรียนการทุจริต: ไม่เปิดเผยรายละเอียดเพื่อคุ้มครองผู้แจ้ง)"

CaseEvent = CaseAssigned | CaseStatusChanged | CaseResolved | CaseClosed
# Timeline steps a record keeps for the public tracker: the first few (how the matter
# began) and the newest; a case reopened again and again stays one bounded document.
MAX_STEPS = 30
FIRST_STEPS = 5


@dataclass(frozen=True)
class Step:
    """A status the case reached, and when (routing's moment of the change)."""

    status: str
    at: datetime


def default_due(received_at: datetime) -> datetime:
    return received_at + timedelta(days=DEFAULT_RESPONSE_DAYS)


def public_text(kind: str, text: str, *, scrubbed: str | None = None) -> str:
    """Free text fit for publication; a corruption report's details protect its source.
    `scrubbed`: `redact(text)`, when the caller has it already."""
    if kind == Kind.CORRUPTION_REPORT.value:
        return CORRUPTION_TEXT
    return redact(text) if scrubbed is None else scrubbed


@dataclass(frozen=True)
class Progress:
    status: str = "received"
    status_seq: int = 0
    assignment_no: int = 0
    department: str | None = None
    category: str | None = None
    officer_assigned: bool = False
    # Who has it (case.assigned): the one officer, besides the department's head and the
    # executives, who may read its personal data.
    officer_id: str | None = None
    acknowledge_due_at: datetime | None = None
    respond_due_at: datetime | None = None
    status_notes: str | None = None
    updated_at: datetime | None = None
    steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        # A stored record comes back through `Progress(**document)`: its steps as mappings.
        steps = tuple(s if isinstance(s, Step) else Step(**s) for s in self.steps)
        object.__setattr__(self, "steps", steps)

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    @property
    def awaits_citizen(self) -> bool:
        return self.status == AWAITING_CITIZEN

    def asked_at(self) -> datetime | None:
        """When an officer asked the citizen what the case now waits for; None if it waits
        for nothing from them."""
        if not self.awaits_citizen:
            return None
        return next((s.at for s in reversed(self.steps) if s.status == AWAITING_CITIZEN), None)

    def stepped(self, status: str, at: datetime) -> tuple[Step, ...]:
        """The steps with `status` reached at `at` (nothing new if it is the last one)."""
        if self.steps and self.steps[-1].status == status:
            return self.steps
        steps = (*self.steps, Step(status, at))
        if len(steps) > MAX_STEPS:
            steps = steps[:FIRST_STEPS] + steps[-(MAX_STEPS - FIRST_STEPS) :]
        return steps


def apply(progress: Progress, event: CaseEvent) -> Progress | None:
    """The progress after the event, or None when the event is stale or already applied."""
    at = event.occurred_at
    if isinstance(event, CaseAssigned):
        p = event.payload
        if p.assignment_no <= progress.assignment_no:
            return None
        top = p.categories[0].code if p.categories else progress.category
        # Whether "assigned" is still the status is the timeline's call once it has one.
        status, seq = ("assigned" if progress.status_seq == 0 else progress.status), None
        if p.status_seq is not None and p.status_seq > progress.status_seq:
            status, seq = "assigned", p.status_seq
        return replace(
            progress,
            status=status,
            steps=progress.stepped(status, at) if status != progress.status else progress.steps,
            status_seq=progress.status_seq if seq is None else seq,
            assignment_no=p.assignment_no,
            department=p.department,
            category=top,
            officer_assigned=p.officer_id is not None,
            officer_id=p.officer_id,
            acknowledge_due_at=p.acknowledge_due_at,
            respond_due_at=p.respond_due_at or progress.respond_due_at,
            updated_at=later(progress.updated_at, at),
        )
    if isinstance(event, CaseStatusChanged):
        p2 = event.payload
        if p2.seq <= progress.status_seq:
            return None
        return replace(
            progress,
            status=p2.to_status,
            status_seq=p2.seq,
            steps=progress.stepped(p2.to_status, at),
            status_notes=redact(p2.note) if p2.note else progress.status_notes,
            updated_at=later(progress.updated_at, at),
        )
    if isinstance(event, CaseResolved):
        p3 = event.payload
        # The resolution may share its seq with the status change that announced it;
        # it still brings the resolution text, so equal is applied (once: see notes).
        if p3.seq < progress.status_seq or (
            p3.seq == progress.status_seq
            and progress.status == "resolved"
            and progress.status_notes == redact(p3.resolution)
        ):
            return None
        return replace(
            progress,
            status="resolved",
            status_seq=p3.seq,
            steps=progress.stepped("resolved", p3.resolved_at),
            department=p3.department,
            category=p3.category or progress.category,
            status_notes=redact(p3.resolution),
            updated_at=later(progress.updated_at, p3.resolved_at),
        )
    p4 = event.payload
    if p4.seq < progress.status_seq or (
        p4.seq == progress.status_seq and progress.status == "closed"
    ):
        return None
    return replace(
        progress,
        status="closed",
        status_seq=p4.seq,
        steps=progress.stepped("closed", p4.closed_at),
        status_notes=redact(p4.reason) if p4.reason else progress.status_notes,
        updated_at=later(progress.updated_at, p4.closed_at),
    )


def later(a: datetime | None, b: datetime) -> datetime:
    """The later of two moments: events arrive out of order, and time does not go back."""
    return b if a is None or b > a else a
