"""What the public website knows: the public projections, and what it derives from them.

Pure: no I/O. Everything here comes from the `public.*` topics, which carry no personal
data (shared/events): the site cannot show what it was never given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.events.cases import PublicCasePayload
from shared.events.compliance import PublicProjectPayload
from shared.events.survey import PublicSatisfactionPayload
from shared.thai import fiscal_year_be, to_bangkok

# A matter stops the legal clock when it reaches one of these (routing's closed states).
DONE_STATUSES = frozenset({"resolved", "closed", "duplicate", "not_our_responsibility"})
# Anything past assignment shows the matter was taken up (the acknowledgement deadline).
TAKEN_UP = frozenset({"acknowledged", "in_progress", "pending_citizen", *DONE_STATUSES})
# A score from this value up counts as satisfied (the survey service's rule: 4 and 5).
SATISFIED_FROM = 4
# Projects from this budget up owe public participation (satang: 10,000,000.00 baht).
BIG_PROJECT_SATANG = 10_000_000 * 100

Case = PublicCasePayload
Project = PublicProjectPayload
Fact = PublicSatisfactionPayload


@dataclass(frozen=True)
class Deadline:
    """A legal deadline of a case and whether it was kept."""

    name: str  # "acknowledge" | "respond"
    due_at: datetime
    done_at: datetime | None
    state: str  # "met" | "missed" | "pending" | "overdue"


def first_at(case: Case, statuses: frozenset[str]) -> datetime | None:
    return next((s.at for s in case.timeline if s.status in statuses), None)


def resolved_at(case: Case) -> datetime | None:
    """When the matter was first answered for good (the legal clock stopped)."""
    found = first_at(case, DONE_STATUSES)
    if found is None and case.status in DONE_STATUSES:
        return case.updated_at  # published before the timeline: the change's moment
    return found


def deadline(name: str, due_at: datetime, done_at: datetime | None, now: datetime) -> Deadline:
    if done_at is not None:
        return Deadline(name, due_at, done_at, "met" if done_at <= due_at else "missed")
    return Deadline(name, due_at, None, "overdue" if now > due_at else "pending")


def deadlines(case: Case, now: datetime) -> list[Deadline]:
    out = []
    if case.acknowledge_due_at is not None:
        taken = first_at(case, TAKEN_UP) or resolved_at(case)
        out.append(deadline("acknowledge", case.acknowledge_due_at, taken, now))
    if case.respond_due_at is not None:
        out.append(deadline("respond", case.respond_due_at, resolved_at(case), now))
    return out


def days_to_resolve(case: Case) -> float | None:
    done = resolved_at(case)
    if done is None:
        return None
    return max(0.0, (done - case.received_at).total_seconds() / 86_400)


def fiscal_year_of(case: Case) -> int:
    return fiscal_year_be(case.received_at)


def month_of(moment: datetime) -> str:
    """YYYY-MM (Common Era) of a moment in Bangkok: the key of a month everywhere here."""
    return to_bangkok(moment).strftime("%Y-%m")


def is_big(project: Project) -> bool:
    return project.budget_satang > BIG_PROJECT_SATANG or project.requires_participation


def newer_case(current: Case | None, incoming: Case) -> bool:
    """Whether `incoming` replaces what is kept: the projection of the later change wins
    (a redelivery or an older one, arriving late, changes nothing)."""
    if current is None:
        return True
    return (incoming.updated_at, len(incoming.timeline)) > (
        current.updated_at,
        len(current.timeline),
    )


def newer_project(current: Project | None, incoming: Project) -> bool:
    return current is None or incoming.revision > current.revision


@dataclass
class ReadModel:
    """Everything the pages show, kept in memory: the site answers from here, and the
    database behind it only brings it back after a restart."""

    cases: dict[str, Case] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    facts: dict[str, Fact] = field(default_factory=dict)
    # Grows with every change: figures computed at one revision hold until the next.
    revision: int = 0

    def take_case(self, case: Case) -> bool:
        if not newer_case(self.cases.get(case.case_id), case):
            return False
        self.cases[case.case_id] = case
        self.revision += 1
        return True

    def take_project(self, project: Project) -> bool:
        if not newer_project(self.projects.get(project.project_id), project):
            return False
        self.projects[project.project_id] = project
        self.revision += 1
        return True

    def take_fact(self, fact: Fact) -> bool:
        if fact.fact_id in self.facts:
            return False
        self.facts[fact.fact_id] = fact
        self.revision += 1
        return True
