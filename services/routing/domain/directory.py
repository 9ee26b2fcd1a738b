"""The organisation directory: who works where, who covers which village, what the law asks.

Plain pydantic models validated from one YAML file per organisation (see
`services/routing/config/orgs/`). Pure: the file is read by an adapter; this module only
says what a valid directory is, so a typo in the file is refused with the field named.
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.taxonomy import codes as category_codes


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OfficerStatus(StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    INACTIVE = "inactive"  # moved away or retired: kept so old cases still name them


class Officer(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    department: str
    role: str  # free text, e.g. "นายช่างโยธา"
    status: OfficerStatus = OfficerStatus.ACTIVE
    # Heads and executives answer for escalations; they do not draw from the daily queue.
    takes_cases: bool = True
    # The officer's LINE user id for the SAO's LINE Official Account (U + 32 hex digits, as
    # LINE gives it to the channel): set, they are told on LINE of a case assigned or
    # escalated to them (services/routing/line_push.py). Never shown by the directory API.
    line_user_id: str | None = Field(default=None, pattern=r"^U[0-9a-f]{32}$")

    @property
    def available(self) -> bool:
        return self.status is OfficerStatus.ACTIVE


class Department(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_th: str
    name_en: str
    head: str  # officer id
    # Words by which citizens name the department; used to spot whom a corruption report accuses.
    aliases: tuple[str, ...] = ()


class Village(_Model):
    village_no: int = Field(ge=1, le=99)  # หมู่ที่ (not `no`: YAML 1.1 reads that as false)
    name: str
    # Residents by the house register: routing does not use it; insight reads it (reports
    # per 1,000 residents, docs/insight.md).
    population: int | None = Field(default=None, ge=0)
    # department code -> officer id responsible for field work in this village
    area_officers: dict[str, str] = Field(default_factory=dict)


class DeskRef(_Model):
    department: str
    officer: str


class Executives(_Model):
    palad: str  # ปลัด อบต. (officer id)
    mayor: str  # นายก อบต. (officer id)
    department: str  # where cases owned by the executives are filed
    palad_aliases: tuple[str, ...] = ("ปลัด",)
    mayor_aliases: tuple[str, ...] = ("นายก",)


class DeadlineRule(_Model):
    """A deadline policy; per-category overrides give only the fields they change."""

    acknowledge_working_days: int | None = Field(default=None, ge=0, le=15)
    # Calendar days from receipt: s.38 of the Royal Decree on Good Governance B.E. 2546
    # counts 15 days, and the law's day is a calendar day, so the clock does not stop on
    # weekends; an organisation may only be stricter.
    respond_days: int | None = Field(default=None, ge=1, le=15)
    warn_before_days: int | None = Field(default=None, ge=0, le=14)
    escalate_every_days: int | None = Field(default=None, ge=1, le=30)


class DeadlinePolicy(_Model):
    acknowledge_working_days: int = Field(default=1, ge=0, le=15)
    respond_days: int = Field(default=15, ge=1, le=15)
    warn_before_days: int = Field(default=3, ge=0, le=14)
    escalate_every_days: int = Field(default=3, ge=1, le=30)
    office_closes_at: time = time(16, 30)  # Bangkok time; a working day ends here
    categories: dict[str, DeadlineRule] = Field(default_factory=dict)

    def for_category(self, code: str | None) -> ResolvedDeadlines:
        rule = self.categories.get(code or "") or DeadlineRule()
        return ResolvedDeadlines(
            acknowledge_working_days=_pick(
                rule.acknowledge_working_days, self.acknowledge_working_days
            ),
            respond_days=_pick(rule.respond_days, self.respond_days),
            warn_before_days=_pick(rule.warn_before_days, self.warn_before_days),
            escalate_every_days=_pick(rule.escalate_every_days, self.escalate_every_days),
        )


def _pick(override: int | None, default: int) -> int:
    return default if override is None else override


class ResolvedDeadlines(_Model):
    acknowledge_working_days: int
    respond_days: int
    warn_before_days: int
    escalate_every_days: int


class Holiday(_Model):
    date: date
    name: str


class Directory(_Model):
    org_id: str
    name_th: str
    name_en: str
    departments: tuple[Department, ...]
    officers: tuple[Officer, ...]
    villages: tuple[Village, ...] = ()
    complaints_desk: DeskRef
    executives: Executives
    categories: dict[str, str]  # category code -> department code
    deadlines: DeadlinePolicy = DeadlinePolicy()
    # year (CE) -> public holidays; a year missing here means "weekends only" for it.
    holidays: dict[int, tuple[Holiday, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        depts = {d.code for d in self.departments}
        officers = {o.id: o for o in self.officers}
        problems: list[str] = []
        if len(depts) != len(self.departments):
            problems.append("departments: duplicate code")
        if len(officers) != len(self.officers):
            problems.append("officers: duplicate id")
        for d in self.departments:
            if d.head not in officers:
                problems.append(f"departments.{d.code}.head: unknown officer {d.head!r}")
        for o in self.officers:
            if o.department not in depts:
                problems.append(f"officers.{o.id}.department: unknown department {o.department!r}")
        for v in self.villages:
            for dept, oid in v.area_officers.items():
                if dept not in depts:
                    problems.append(
                        f"villages.{v.village_no}.area_officers: unknown department {dept!r}"
                    )
                elif oid not in officers:
                    problems.append(
                        f"villages.{v.village_no}.area_officers.{dept}: unknown officer {oid!r}"
                    )
        if len({v.village_no for v in self.villages}) != len(self.villages):
            problems.append("villages: duplicate หมู่ที่")
        for ref, what in (
            (self.complaints_desk.officer, "complaints_desk.officer"),
            (self.executives.palad, "executives.palad"),
            (self.executives.mayor, "executives.mayor"),
        ):
            if ref not in officers:
                problems.append(f"{what}: unknown officer {ref!r}")
        for ref, what in (
            (self.complaints_desk.department, "complaints_desk.department"),
            (self.executives.department, "executives.department"),
        ):
            if ref not in depts:
                problems.append(f"{what}: unknown department {ref!r}")
        known = set(category_codes())
        for code, dept in self.categories.items():
            if code not in known:
                problems.append(f"categories.{code}: not a taxonomy code")
            if dept not in depts:
                problems.append(f"categories.{code}: unknown department {dept!r}")
        missing = sorted(known - set(self.categories))
        if missing:
            problems.append(f"categories: no department for {', '.join(missing)}")
        for code in self.deadlines.categories:
            if code not in known:
                problems.append(f"deadlines.categories.{code}: not a taxonomy code")
        for year, days in self.holidays.items():
            if any(h.date.year != year for h in days):
                problems.append(f"holidays.{year}: a date outside {year}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- look-ups ------------------------------------------------------------------

    def officer(self, officer_id: str | None) -> Officer | None:
        return next((o for o in self.officers if o.id == officer_id), None)

    def department(self, code: str | None) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def village(self, no: int | None) -> Village | None:
        return next((v for v in self.villages if v.village_no == no), None)

    def staff_of(self, department: str) -> list[Officer]:
        return [o for o in self.officers if o.department == department and o.takes_cases]

    def holiday_dates(self) -> frozenset[date]:
        return frozenset(h.date for days in self.holidays.values() for h in days)
