"""Consultations with the people served, and each department's improvement plan. Pure.

A consultation records who took part by group (counts, never names), what they said
(redacted before it is kept), and what it concerns. A plan is one department's for one
Thai fiscal quarter: findings, the actions that answer them (an owner, a due date, the
metric it should move and how), and follow-ups. The metric's value before (the plan's
quarter) and after (the quarter after the due date) is read from the exact figures
when the plan is shown, so the plan never holds a copy that could drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from services.insight.domain.errors import InvalidPlan, NotAllowedNow
from shared.thai import BE_OFFSET

# The figures an action may name (services.insight.domain.rules.rates), and which way
# is better: +1 higher, -1 lower.
METRICS: dict[str, int] = {
    "received": -1,
    "mean_days_to_acknowledge": -1,
    "mean_days_to_resolve": -1,
    "percent_within_deadline": 1,
    "percent_reopened": -1,
    "percent_satisfied": 1,
}
ACTION_STATES = ("planned", "in_progress", "done", "dropped")
GROUP = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def fiscal_quarter(day: date) -> tuple[int, int]:
    """(fiscal year BE, quarter 1-4): the year runs October to September."""
    fy = day.year + 1 if day.month >= 10 else day.year
    quarter = ((day.month - 10) % 12) // 3 + 1
    return fy + BE_OFFSET, quarter


def next_quarter(fiscal_year: int, quarter: int) -> tuple[int, int]:
    return (fiscal_year + 1, 1) if quarter == 4 else (fiscal_year, quarter + 1)


@dataclass(frozen=True)
class Consultation:
    consultation_id: str
    org_id: str
    held_on: date
    kind: str  # village_forum (ประชาคมหมู่บ้าน) | public_hearing | focus_group | survey_meeting
    title: str
    participants: dict[str, int]  # group -> how many took part; no names
    said: tuple[str, ...]  # points raised, redacted
    village_no: int | None = None
    department: str | None = None
    case_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    minutes_case_id: str | None = None  # intake's case made from the meeting's minutes
    # intake's activity id of the meeting's minutes (POST /v1/channels/meeting): each
    # opinion in them became a case linked to it, and their figures show beside this record
    activity_id: str | None = None
    recorded_by: str = ""
    recorded_at: str = ""

    @property
    def fiscal_quarter(self) -> tuple[int, int]:
        return fiscal_quarter(self.held_on)

    @property
    def people(self) -> int:
        return sum(self.participants.values())

    def view(self) -> dict[str, Any]:
        """What anyone allowed to read consultations sees (who recorded it is not shown)."""
        fy, q = self.fiscal_quarter
        return {
            "consultation_id": self.consultation_id,
            "held_on": self.held_on.isoformat(),
            "fiscal_year": fy,
            "quarter": q,
            "kind": self.kind,
            "title": self.title,
            "participants": dict(self.participants),
            "people": self.people,
            "said": list(self.said),
            "village_no": self.village_no,
            "department": self.department,
            "case_ids": list(self.case_ids),
            "categories": list(self.categories),
            "project_ids": list(self.project_ids),
            "minutes_case_id": self.minutes_case_id,
            "activity_id": self.activity_id,
        }


def check_consultation(c: Consultation) -> None:
    problems = []
    if not c.participants:
        problems.append("participants: at least one group")
    for group, n in c.participants.items():
        if not GROUP.match(group):
            problems.append(f"participants.{group}: a group is a short code (a-z, 0-9, _)")
        if n < 0 or n > 100_000:
            problems.append(f"participants.{group}: a count from 0 to 100000")
    if not c.title.strip():
        problems.append("title: required")
    if problems:
        raise InvalidPlan(problems)


@dataclass(frozen=True)
class FollowUp:
    on: date
    note: str
    status: str


@dataclass(frozen=True)
class Action:
    action_id: str
    finding_id: str
    text: str
    owner: str  # a position or officer id of the department, never a citizen
    due: date
    metric: str
    expected: str  # the effect hoped for, e.g. "ลดลงเหลือ 10%"
    status: str = "planned"
    followups: tuple[FollowUp, ...] = ()


@dataclass(frozen=True)
class Finding:
    finding_id: str
    text: str
    source: str  # analysis | consultation | survey_alert
    metric: str | None = None
    ref: str | None = None  # the hotspot, consultation or alert it came from


@dataclass(frozen=True)
class Plan:
    org_id: str
    department: str
    fiscal_year: int
    quarter: int
    findings: tuple[Finding, ...] = ()
    actions: tuple[Action, ...] = ()

    @property
    def plan_id(self) -> str:
        return plan_id(self.org_id, self.department, self.fiscal_year, self.quarter)


def plan_id(org_id: str, department: str, fiscal_year: int, quarter: int) -> str:
    return f"{org_id}|{department}|{fiscal_year}|{quarter}"


def add_finding(plan: Plan, finding: Finding) -> Plan | None:
    """None when a finding of that id is in the plan already (a retry, a replayed alert)."""
    if any(f.finding_id == finding.finding_id for f in plan.findings):
        return None
    if finding.metric is not None and finding.metric not in METRICS:
        raise InvalidPlan([f"metric: one of {', '.join(METRICS)}"])
    return replace(plan, findings=(*plan.findings, finding))


def add_action(plan: Plan, action: Action) -> Plan | None:
    if any(a.action_id == action.action_id for a in plan.actions):
        return None
    problems = []
    if action.metric not in METRICS:
        problems.append(f"metric: one of {', '.join(METRICS)}")
    if not any(f.finding_id == action.finding_id for f in plan.findings):
        problems.append("finding_id: no such finding in this plan")
    if problems:
        raise InvalidPlan(problems)
    return replace(plan, actions=(*plan.actions, action))


def follow_up(plan: Plan, action_id: str, followup: FollowUp) -> Plan:
    if followup.status not in ACTION_STATES:
        raise InvalidPlan([f"status: one of {', '.join(ACTION_STATES)}"])
    actions = []
    found = False
    for a in plan.actions:
        if a.action_id == action_id:
            found = True
            if a.status in ("done", "dropped"):
                raise NotAllowedNow(f"action {action_id} is {a.status}: its follow-ups are closed")
            a = replace(a, status=followup.status, followups=(*a.followups, followup))
        actions.append(a)
    if not found:
        raise InvalidPlan([f"action_id: no action {action_id} in this plan"])
    return replace(plan, actions=tuple(actions))
