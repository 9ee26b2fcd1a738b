"""The roles of Ruam (docs/auth.md). Pure: domain rules reason about them without the HTTP
and token machinery of `shared.auth`."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"  # their department's cases; acts on the cases assigned to them
    HEAD = "head"  # every case of their department
    EXECUTIVE = "executive"  # ปลัด and นายก: everything
    PLANNER = "planner"  # projects and participation records
    AUDITOR = "auditor"  # reads everything but personal data; changes nothing
    OPERATOR = "operator"  # dead letters, rebuilds, directory reload


ROLE_NAMES = frozenset(r.value for r in Role)
