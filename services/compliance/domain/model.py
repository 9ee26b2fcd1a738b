"""A project in the register, as compliance sees it. Pure: no I/O, no framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from shared.events.compliance import Stage

# The main path; `cancelled` is off it and has no rank.
STAGE_ORDER: tuple[Stage, ...] = (
    Stage.PLANNING,
    Stage.APPROVED,
    Stage.PROCUREMENT,
    Stage.CONTRACTED,
    Stage.IN_PROGRESS,
    Stage.INSPECTION,
    Stage.COMPLETED,
)


def stage_rank(stage: Stage) -> int | None:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else None


class Source(StrEnum):
    KAFKA = "kafka"  # the planning/finance systems, with producer versions
    HTTP = "http"  # manual entry


class RequirementStatus(StrEnum):
    OPEN = "open"
    MET = "met"
    WAIVED = "waived"


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Register:
    name: str
    fiscal_year: int
    budget_satang: int
    funding_source: str
    key_policy: bool
    key_mission: bool
    stage: Stage
    planned_procurement_date: date | None


@dataclass(frozen=True)
class ChangeBudget:
    budget_satang: int
    reason: str | None


@dataclass(frozen=True)
class ChangeStage:
    stage: Stage
    note: str | None


@dataclass(frozen=True)
class Flag:
    key_policy: bool | None
    key_mission: bool | None


@dataclass(frozen=True)
class Waive:
    requirement: str
    reason: str
    authority: str | None


@dataclass(frozen=True)
class RecordParticipation:
    record_id: str
    kind: str
    held_on: date
    participants: dict[str, int]
    evidence_ref: str
    issues: tuple[str, ...]
    results: str
    changes: str
    recorded_by: str | None


Command = Register | ChangeBudget | ChangeStage | Flag | Waive | RecordParticipation


@dataclass(frozen=True)
class Change:
    """A command with where it came from: its id, when it happened, its version."""

    event_id: str
    at: datetime
    source: Source
    command: Command
    version: int | None = None  # the producer's version; None for manual facts


# --------------------------------------------------------------------------- state


@dataclass
class Requirement:
    kind: str
    due_stage: Stage
    due: Literal["before", "after"]
    severity: str
    status: RequirementStatus
    raised_at: datetime
    reasons: list[str]
    met_by: str | None = None  # record id of the participation that met it
    met_at: datetime | None = None
    waiver_reason: str | None = None
    waiver_authority: str | None = None
    waived_at: datetime | None = None


@dataclass
class Participation:
    record_id: str
    kind: str
    held_on: date
    participants: dict[str, int]
    evidence_ref: str
    issues: list[str]
    results: str
    changes: str
    recorded_at: datetime
    recorded_by: str | None = None


@dataclass
class Violation:
    code: str
    requirement: str
    severity: str
    stage: Stage
    at: datetime
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The same plain shape for storage and for the API."""
        return {
            "code": self.code,
            "requirement": self.requirement,
            "severity": self.severity,
            "stage": self.stage.value,
            "at": self.at,
            "message": self.message,
        }


@dataclass
class DueWarning:
    code: str
    requirement: str
    at: datetime
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "requirement": self.requirement,
            "at": self.at,
            "message": self.message,
        }


@dataclass
class TimelineEntry:
    seq: int
    at: datetime
    action: str
    source: Source
    summary: str
    version: int | None = None
    event_id: str | None = None
    refused: bool = False


@dataclass
class Pending:
    """An event that arrived before the versions it follows; kept as its raw JSON."""

    version: int
    event_id: str
    body: str


@dataclass
class Project:
    project_id: str
    org_id: str
    source: Source
    registered: bool = False
    name: str = ""
    fiscal_year: int = 0
    budget_satang: int = 0
    funding_source: str = ""
    key_policy: bool = False
    key_mission: bool = False
    stage: Stage = Stage.PLANNING
    planned_procurement_date: date | None = None
    registration_fingerprint: str | None = None
    applied_version: int = 0
    pending: list[Pending] = field(default_factory=list)
    applied_event_ids: list[str] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    evidence: list[Participation] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    warnings: list[DueWarning] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    # When the project last reached `completed` (starts the report-back grace period).
    completed_at: datetime | None = None
    registered_at: datetime | None = None
    updated_at: datetime | None = None
    # Optimistic-concurrency version of the stored document (0 = never stored); not the
    # producer's `applied_version`.
    version: int = 0

    @property
    def requires_participation(self) -> bool:
        """Once raised, a requirement stays: a later budget cut does not make it vanish."""
        return bool(self.requirements)

    def requirement(self, kind: str) -> Requirement | None:
        return next((r for r in self.requirements if r.kind == kind), None)

    def open_requirements(self) -> list[Requirement]:
        return [r for r in self.requirements if r.status is RequirementStatus.OPEN]

    def has_violation(self, requirement: str) -> bool:
        return any(v.requirement == requirement for v in self.violations)

    def has_warning(self, code: str, requirement: str) -> bool:
        return any(w.code == code and w.requirement == requirement for w in self.warnings)

    def record(self, change: Change, action: str, summary: str, *, refused: bool = False) -> None:
        self.timeline.append(
            TimelineEntry(
                seq=len(self.timeline) + 1,
                at=change.at,
                action=action,
                source=change.source,
                summary=summary,
                version=change.version,
                event_id=change.event_id,
                refused=refused,
            )
        )
        self.applied_event_ids.append(change.event_id)
        self.updated_at = change.at
