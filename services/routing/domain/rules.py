"""Routing policy.

Placeholder of the walking skeleton: every case goes to the complaints desk of
สำนักปลัด with a 15-day reply deadline. The routing issue replaces this with the
organisation directory, the classifier and the numbered policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.routing.domain.model import Case, Status

COMPLAINTS_DESK_DEPARTMENT = "office"  # สำนักปลัด
COMPLAINTS_DESK_OFFICER = "desk"
RESPOND_WITHIN = timedelta(days=15)  # Royal Decree on Good Governance B.E. 2546, s. 38
ACKNOWLEDGE_WITHIN = timedelta(days=1)


@dataclass(frozen=True)
class Assignment:
    department: str
    officer_id: str | None
    reasons: tuple[str, ...]


def decide_assignment(case: Case) -> Assignment:
    return Assignment(
        department=COMPLAINTS_DESK_DEPARTMENT,
        officer_id=COMPLAINTS_DESK_OFFICER,
        reasons=("placeholder policy: every case goes to the complaints desk of สำนักปลัด",),
    )


def assign(case: Case, assignment: Assignment, now: datetime) -> None:
    case.department = assignment.department
    case.officer_id = assignment.officer_id
    case.reasons = list(assignment.reasons)
    case.acknowledge_due_at = case.received_at + ACKNOWLEDGE_WITHIN
    case.respond_due_at = case.received_at + RESPOND_WITHIN
    case.status = Status.ASSIGNED
    case.assigned_at = now
    case.record(now, "assign", assignment.officer_id, "; ".join(assignment.reasons))
