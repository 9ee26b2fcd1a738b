"""Who may see a case, see its personal data, and act on it. Pure.

A whistle-blower's report (a corruption report, or a case naming an accused department)
is the executives' alone: the division it may accuse never sees it, and auditors see it
redacted. Everything else follows the department: officers and heads see their own
department's cases, officers act on what is assigned to them, heads on all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.routing.domain.model import Case
from services.routing.domain.rules import is_corruption
from shared.roles import Role


@dataclass(frozen=True)
class Viewer:
    """Who asks, as these rules need it (from a verified token)."""

    roles: frozenset[Role]
    department: str | None = None
    officer_id: str | None = None
    org_id: str | None = None  # None: a test's viewer of any organisation

    def is_(self, role: Role) -> bool:
        return role in self.roles


def whistleblowing(case: Case) -> bool:
    return is_corruption(case.kind, case.category) or bool(case.accused_department)


def _other_org(who: Viewer, case: Case) -> bool:
    return who.org_id is not None and who.org_id != case.org_id


def may_read(who: Viewer, case: Case) -> bool:
    # 0. nobody reads another organisation's cases (one cluster serves many)
    if _other_org(who, case):
        return False
    # 1. executives read every case
    if who.is_(Role.EXECUTIVE):
        return True
    # 2. a whistle-blower's report: auditors too (redacted), nobody else
    if whistleblowing(case):
        return who.is_(Role.AUDITOR)
    # 3. auditors read every other case (redacted)
    if who.is_(Role.AUDITOR):
        return True
    # 4. officers and heads read their own department's cases
    return _in_department(who, case)


def sees_personal_data(who: Viewer, case: Case) -> bool:
    if _other_org(who, case):
        return False
    # 1. executives
    if who.is_(Role.EXECUTIVE):
        return True
    # 2. nobody else on a whistle-blower's report
    if whistleblowing(case):
        return False
    # 3. the head of the case's department
    if who.is_(Role.HEAD) and who.department == case.department:
        return True
    # 4. the officer it is assigned to
    return _assigned_to(who, case)


def sees_attachments(who: Viewer, case: Case) -> bool:
    """What the citizen sent (photos, scans, links): the staff who work the case's
    department, and the executives. Not auditors, who read every case redacted: a photo can
    show a face, a house or a number plate, and no redaction reaches into pixels."""
    if not may_read(who, case):
        return False
    if who.is_(Role.EXECUTIVE):
        return True
    return not whistleblowing(case) and _in_department(who, case)


def refusal_to_act(who: Viewer, case: Case) -> str | None:
    """Why `who` may not act on `case`; None when they may."""
    if _other_org(who, case):
        return f"{case.case_id} is another organisation's case"
    # 1. executives act on everything
    if who.is_(Role.EXECUTIVE):
        return None
    # 2. a whistle-blower's report stays with the executives
    if whistleblowing(case):
        return "only the executives act on a corruption report"
    # 3. heads act on their department's cases
    if who.is_(Role.HEAD) and who.department == case.department:
        return None
    # 4. officers act on the cases assigned to them
    if _assigned_to(who, case):
        return None
    if who.is_(Role.HEAD) or who.is_(Role.OFFICER):
        return f"{case.case_id} is not yours to act on (it is {case.department}'s)"
    return "this role acts on no case"


def department_scope(who: Viewer) -> str | None:
    """The one department whose cases `who` may list; None for every department."""
    if who.is_(Role.EXECUTIVE) or who.is_(Role.AUDITOR):
        return None
    return who.department or ""  # no department named: nothing to list


def sees_whistleblowing(who: Viewer) -> bool:
    return who.is_(Role.EXECUTIVE) or who.is_(Role.AUDITOR)


def _in_department(who: Viewer, case: Case) -> bool:
    return (
        (who.is_(Role.OFFICER) or who.is_(Role.HEAD))
        and who.department is not None
        and who.department == case.department
    )


def _assigned_to(who: Viewer, case: Case) -> bool:
    return (
        (who.is_(Role.OFFICER) or who.is_(Role.HEAD))
        and who.officer_id is not None
        and who.officer_id == case.officer_id
    )
