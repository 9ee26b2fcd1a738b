"""Routing policy: who owns a matter, and why. Pure.

The policy, in the order it is applied (the numbers appear in the stored reasons):
  0. an improvement action raised by the platform for a department goes to its head;
  1. the category -> department map of the organisation directory (or the department a
     case is transferred to);
  2. a corruption report never goes to the department it accuses: it goes to the ปลัด,
     or to the นายก when the ปลัด or the ปลัด's office (สำนักปลัด) is accused;
  3. field-work categories go to the department's area officer of the case's village,
     when there is one and that officer is at work;
  4. otherwise the least-loaded active officer of the department (by open cases),
     skipping officers on leave;
  5. otherwise the complaints desk of สำนักปลัด.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.routing.domain.directory import Directory, Officer
from shared.taxonomy import GENERAL_CODE, by_code
from shared.thai import normalize_text

CORRUPTION_CATEGORY = "corruption"
CORRUPTION_KIND = "corruption_report"
IMPROVEMENT_KIND = "improvement_action"
# Codes a citizen may pick that say nothing about the matter: the classifier decides.
GENERIC_SERVICE_CODES = frozenset({GENERAL_CODE, "complaint", "question", "suggestion"})

_VILLAGE = re.compile(r"(?:หมู่ที่|หมู่|ม\.)\s*(\d{1,2})(?!\d)")


@dataclass(frozen=True)
class RoutingInput:
    kind: str
    text: str
    category: str | None
    village_no: int | None = None
    department_hint: str | None = None
    links: Mapping[str, str] = field(default_factory=dict)
    transfer_to: str | None = None  # a department an officer transferred the case to


@dataclass(frozen=True)
class Assignment:
    department: str
    officer_id: str | None
    reasons: tuple[str, ...]
    accused_department: str | None = None


def village_from_text(text: str) -> int | None:
    """หมู่ที่ 3 / หมู่ ๓ / ม.3 in the citizen's words (Thai digits read as numbers)."""
    match = _VILLAGE.search(normalize_text(text))
    if match is None:
        return None
    no = int(match.group(1))
    return no if 1 <= no <= 99 else None


def is_corruption(kind: str, category: str | None) -> bool:
    return kind == CORRUPTION_KIND or category == CORRUPTION_CATEGORY


@dataclass(frozen=True)
class Accusation:
    departments: frozenset[str]
    palad: bool
    mayor: bool

    @property
    def any(self) -> bool:
        return bool(self.departments) or self.palad or self.mayor


def accused(text: str, links: Mapping[str, str], directory: Directory) -> Accusation:
    """Whom a corruption report names: by department name or alias, or an explicit link."""
    words = normalize_text(text).lower()
    depts: set[str] = set()
    for d in directory.departments:
        names = (d.name_th, d.code, *d.aliases)
        if any(normalize_text(n).lower() in words for n in names if n):
            depts.add(d.code)
    for key in ("accused_department", "department"):
        if links.get(key) and directory.department(links[key]) is not None:
            depts.add(links[key])
    ex = directory.executives
    palad = any(normalize_text(a).lower() in words for a in ex.palad_aliases)
    mayor = any(normalize_text(a).lower() in words for a in ex.mayor_aliases)
    return Accusation(frozenset(depts), palad, mayor)


def decide_assignment(
    inp: RoutingInput, directory: Directory, loads: Mapping[str, int]
) -> Assignment:
    """Apply the numbered policy; `loads` is open cases per officer id."""
    reasons: list[str] = []

    # 0. improvement actions: the head of the department that must improve owns them.
    if inp.kind == IMPROVEMENT_KIND and inp.department_hint and inp.transfer_to is None:
        dept = directory.department(inp.department_hint)
        if dept is not None:
            reasons.append(f"0. improvement action for {dept.name_th} ({dept.code})")
            head = directory.officer(dept.head)
            if head is not None and head.available:
                reasons.append(f"0. owned by the head of division: {head.name}")
                return Assignment(dept.code, head.id, tuple(reasons))
            reasons.append("0. the head of division is not at work")
            return _within(dept.code, inp, directory, loads, reasons, field_work=False)
        reasons.append(f"0. unknown department_hint {inp.department_hint!r} ignored")

    # 2 before 1 in code, because it overrides it: an accused department never owns.
    if is_corruption(inp.kind, inp.category):
        return _corruption(inp, directory, reasons)

    # 1. category -> department (a transfer names the department instead).
    if inp.transfer_to is not None:
        department = inp.transfer_to
        reasons.append(f"1. transferred to {_dept_name(directory, department)}")
    else:
        code = inp.category or GENERAL_CODE
        department = directory.categories.get(code, directory.complaints_desk.department)
        reasons.append(
            f"1. category {code} ({_label(code)}) -> {_dept_name(directory, department)}"
        )
    field_work = inp.category is not None and _field_work(inp.category)
    return _within(department, inp, directory, loads, reasons, field_work=field_work)


def _within(
    department: str,
    inp: RoutingInput,
    directory: Directory,
    loads: Mapping[str, int],
    reasons: list[str],
    *,
    field_work: bool,
) -> Assignment:
    # 3. field work: the area officer of the village, when at work.
    if field_work:
        village = directory.village(inp.village_no)
        if village is None:
            reasons.append("3. field work, but the village is unknown")
        else:
            oid = village.area_officers.get(department)
            officer = directory.officer(oid)
            if officer is None:
                reasons.append(f"3. หมู่ที่ {village.village_no} has no area officer for {department}")
            elif not officer.available:
                reasons.append(
                    f"3. area officer of หมู่ที่ {village.village_no}, {officer.name},"
                    f" is {officer.status.value}"
                )
            else:
                reasons.append(
                    f"3. field work in หมู่ที่ {village.village_no} ({village.name}):"
                    f" area officer {officer.name}"
                )
                return Assignment(department, officer.id, tuple(reasons))

    # 4. least-loaded active officer of the department.
    chosen = least_loaded(directory.staff_of(department), loads)
    skipped = [o for o in directory.staff_of(department) if not o.available]
    if skipped:
        reasons.append("4. skipped (not at work): " + ", ".join(o.name for o in skipped))
    if chosen is not None:
        reasons.append(
            f"4. least-loaded officer of {department}: {chosen.name}"
            f" ({loads.get(chosen.id, 0)} open cases)"
        )
        return Assignment(department, chosen.id, tuple(reasons))

    # 5. the complaints desk of สำนักปลัด.
    return _desk(directory, loads, reasons, f"4. no officer of {department} is at work")


def _desk(
    directory: Directory, loads: Mapping[str, int], reasons: list[str], why: str
) -> Assignment:
    reasons.append(why)
    desk = directory.complaints_desk
    officer = directory.officer(desk.officer)
    if officer is not None and officer.available:
        reasons.append(f"5. complaints desk of สำนักปลัด: {officer.name}")
        return Assignment(desk.department, officer.id, tuple(reasons))
    fallback = least_loaded(directory.staff_of(desk.department), loads)
    dept = directory.department(desk.department)
    owner = fallback or directory.officer(dept.head if dept else None)
    reasons.append(
        "5. the complaints desk is not at work: "
        + (owner.name if owner else "left for the head of สำนักปลัด")
    )
    return Assignment(desk.department, owner.id if owner else None, tuple(reasons))


def _corruption(inp: RoutingInput, directory: Directory, reasons: list[str]) -> Assignment:
    ex = directory.executives
    who = accused(inp.text, inp.links, directory)
    office = directory.complaints_desk.department
    named = sorted(who.departments - {ex.department})
    if named:
        reasons.append(
            "2. corruption report accusing "
            + ", ".join(_dept_name(directory, d) for d in named)
            + ": never owned by the accused"
        )
    else:
        reasons.append("2. corruption report: owned by the executives, not a division")
    palad, mayor = directory.officer(ex.palad), directory.officer(ex.mayor)
    to_mayor = who.palad or office in who.departments
    if to_mayor and not who.mayor:
        reasons.append("2. the ปลัด or the ปลัด's office is accused: owned by the นายก")
        owner = mayor
    elif who.mayor and not who.palad:
        reasons.append(
            "2. the นายก is named: owned by the ปลัด; consider referral to the"
            " district (นายอำเภอ) or the NACC (ป.ป.ช.)"
        )
        owner = palad
    elif to_mayor:
        reasons.append(
            "2. both executives are named: owned by the ปลัด for referral to the"
            " district (นายอำเภอ) or the NACC (ป.ป.ช.)"
        )
        owner = palad
    else:
        owner = palad
        if palad is not None and not palad.available and mayor is not None:
            reasons.append(f"2. the ปลัด is {palad.status.value}: owned by the นายก")
            owner = mayor
        else:
            reasons.append("2. owned by the ปลัด")
    accused_dept = named[0] if named else None
    return Assignment(ex.department, owner.id if owner else None, tuple(reasons), accused_dept)


def least_loaded(officers: list[Officer], loads: Mapping[str, int]) -> Officer | None:
    at_work = [o for o in officers if o.available]
    if not at_work:
        return None
    return min(at_work, key=lambda o: (loads.get(o.id, 0), o.id))


def _field_work(code: str) -> bool:
    try:
        return by_code(code).field_work
    except KeyError:
        return False


def _label(code: str) -> str:
    try:
        return by_code(code).label_th
    except KeyError:
        return code


def _dept_name(directory: Directory, code: str) -> str:
    dept = directory.department(code)
    return f"{dept.name_th} ({code})" if dept else code
