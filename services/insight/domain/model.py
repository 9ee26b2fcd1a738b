"""What insight knows of a case, and the figures it adds up to. Pure.

A case's facts arrive on six topics in no promised order (each topic is its own
partition stream, and survey answers are keyed by response), so every field here is
kept so that the set of events applied decides it, never their order: the latest
assignment by its number, the first acknowledgement by time, the last resolution by
its seq, reopenings as a set of seqs. That is what lets `rules.recompute` over the raw
events equal the sum the consumers built one event at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

# A case's figures: bucket id -> field -> integer count. Only integers are added, so
# sums are exact; means and shares are computed when read.
Counts = dict[str, int]
Contribution = dict[str, Counts]

# Event ids a case remembers: a case has tens of events, so this bounds nothing real.
KEEP_EVENT_IDS = 300


@dataclass(frozen=True)
class Response:
    """One survey answer about the case: its scale answers summed (1-5 each)."""

    response_id: str
    score_sum: int
    score_n: int


@dataclass(frozen=True)
class CaseFacts:
    case_id: str
    org_id: str
    kind: str | None = None
    received_at: str | None = None  # ISO 8601 UTC: stored as text, exact to the microsecond
    village_no: int | None = None
    # intake's activity (a public meeting's minutes) the matter was raised at, if any
    activity_id: str | None = None
    # The ~100 m grid cell of the reported point: round(lat*1000), round(lon*1000).
    cell: tuple[int, int] | None = None
    # The first report of the problem routing judged this one a likely duplicate of
    # (case.assigned); the same on every assignment, the least kept should two differ.
    linked_to: str | None = None
    department: str | None = None
    assigned_category: str | None = None
    assignment_no: int = 0
    respond_due_at: str | None = None
    acknowledged_at: str | None = None
    resolved_at: str | None = None
    resolved_seq: int = 0
    resolved_category: str | None = None
    cause: str | None = None
    reopen_seqs: frozenset[int] = frozenset()
    escalation_levels: frozenset[int] = frozenset()
    closed: bool = False
    responses: tuple[Response, ...] = ()

    @property
    def category(self) -> str | None:
        # The owner's last word: the category on the resolution, else the assignment's.
        return self.resolved_category or self.assigned_category


@dataclass(frozen=True)
class CaseRecord:
    """The stored aggregate: the facts, what they are counted as in the figures, and the
    change to the figures not yet known to be applied (`pending`, named by `token`)."""

    facts: CaseFacts
    applied: tuple[str, ...] = ()  # event ids, newest last
    contribution: Contribution = field(default_factory=dict)
    pending: Contribution = field(default_factory=dict)
    token: str | None = None

    def with_event(self, event_id: str) -> tuple[str, ...]:
        return (*self.applied, event_id)[-KEEP_EVENT_IDS:]

    def settled(self) -> CaseRecord:
        return replace(self, pending={}, token=None)


@dataclass(frozen=True)
class Bucket:
    """One slice's figures (org, fiscal year, dimension, value), with the tokens of the
    last changes added to it: a change is added once, however often it is retried."""

    bucket_id: str
    org_id: str
    fiscal_year: int  # 0 for slices that span years (hotspot cells)
    dim: str
    value: str
    counts: Counts
    applied: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket_id": self.bucket_id,
            "fiscal_year": self.fiscal_year,
            "dim": self.dim,
            "value": self.value,
            "counts": dict(self.counts),
        }
