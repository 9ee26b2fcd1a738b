"""The numbers, lists and open-data records the pages show, computed from the read model.
Pure: the same cases give the same figures, whoever asks."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.portal.domain.model import (
    DONE_STATUSES,
    SATISFIED_FROM,
    Case,
    Fact,
    days_to_resolve,
    deadlines,
    fiscal_year_of,
    month_of,
    resolved_at,
)
from shared.thai import BE_OFFSET

# Days-to-resolve bands of the statistics page; the last is past the legal 15 days.
RESOLVE_BANDS = ((0, 3), (3, 7), (7, 15), (15, None))


@dataclass(frozen=True)
class CaseFilter:
    """The public list's filters, as the query string gives them (empty: any)."""

    category: str = ""
    village: str = ""
    status: str = ""
    month: str = ""  # YYYY-MM

    @classmethod
    def of(cls, query: dict[str, str]) -> CaseFilter:
        return cls(
            category=query.get("category", "").strip()[:64],
            village=query.get("village", "").strip()[:8],
            status=query.get("status", "").strip()[:32],
            month=query.get("month", "").strip()[:7],
        )

    def matches(self, case: Case) -> bool:
        if self.category and (case.category or "") != self.category:
            return False
        if self.village and str(case.village_no or "") != self.village:
            return False
        if self.status and case.status != self.status:
            return False
        return not self.month or month_of(case.received_at) == self.month

    def query(self) -> dict[str, str]:
        """The filters as query parameters, the empty ones left out (for links)."""
        return {k: v for k, v in vars(self).items() if v}


def listed(cases: Iterable[Case], chosen: CaseFilter) -> list[Case]:
    """The cases the filters choose, newest first. Improvement actions are the SAO's own
    work items, not citizens' matters: the public list is of citizens' matters."""
    found = [c for c in cases if c.kind.value != "improvement_action" and chosen.matches(c)]
    return sorted(found, key=lambda c: (c.received_at, c.case_id), reverse=True)


def of_year(cases: Iterable[Case], fiscal_year: int) -> list[Case]:
    return [
        c
        for c in cases
        if fiscal_year_of(c) == fiscal_year and c.kind.value != "improvement_action"
    ]


@dataclass(frozen=True)
class YearNumbers:
    fiscal_year: int
    received: int
    resolved: int
    # Of the cases whose reply deadline has passed or that were answered: the share
    # answered by the deadline. None when there is none yet.
    within_deadline_percent: float | None
    median_days_to_resolve: float | None
    satisfaction: list[tuple[str, float | None, int]]  # (question id, % satisfied, answers)
    satisfaction_year: int  # answers count in the year given, which may differ (home page)


def year_numbers(
    cases: Iterable[Case],
    facts: Iterable[Fact],
    fiscal_year: int,
    now: datetime,
    satisfaction_year: int | None = None,
) -> YearNumbers:
    mine = of_year(cases, fiscal_year)
    answered = fiscal_year if satisfaction_year is None else satisfaction_year
    resolved = [c for c in mine if resolved_at(c) is not None]
    judged = met = 0
    for case in mine:
        for due in deadlines(case, now):
            if due.name == "respond" and due.state in ("met", "missed", "overdue"):
                judged += 1
                met += due.state == "met"
    days = [d for c in resolved if (d := days_to_resolve(c)) is not None]
    return YearNumbers(
        fiscal_year=fiscal_year,
        received=len(mine),
        resolved=len(resolved),
        within_deadline_percent=round(100 * met / judged, 1) if judged else None,
        median_days_to_resolve=round(statistics.median(days), 1) if days else None,
        satisfaction=satisfaction_by_question([f for f in facts if f.fiscal_year == answered]),
        satisfaction_year=answered,
    )


def satisfaction_by_question(facts: Iterable[Fact]) -> list[tuple[str, float | None, int]]:
    """Per question (in the order first seen): the share of scores that are satisfied."""
    counts: dict[str, list[int]] = {}
    for fact in facts:
        for question, score in fact.scores.items():
            tally = counts.setdefault(question, [0, 0])
            tally[0] += 1
            tally[1] += score >= SATISFIED_FROM
    return [(q, round(100 * sat / n, 1) if n else None, n) for q, (n, sat) in counts.items()]


def satisfaction_by_department(
    facts: Iterable[Fact], fiscal_year: int
) -> dict[str, list[tuple[str, float | None, int]]]:
    """Department -> its questions' shares of satisfied scores, for one fiscal year."""
    grouped: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.fiscal_year == fiscal_year:
            grouped.setdefault(fact.department or "unspecified", []).append(fact)
    return {d: satisfaction_by_question(fs) for d, fs in sorted(grouped.items())}


def fiscal_months(fiscal_year: int) -> list[str]:
    """The twelve months of a fiscal year, October first, as YYYY-MM."""
    y, m = fiscal_year - BE_OFFSET - 1, 10
    out = []
    for _ in range(12):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@dataclass(frozen=True)
class YearStats:
    fiscal_year: int
    by_category: list[tuple[str, int]]
    by_village: list[tuple[int | None, int]]
    by_month: list[tuple[str, int, int]]  # (YYYY-MM, received, resolved that month)
    resolve_bands: list[tuple[tuple[int, int | None], int]]
    by_department: dict[str, list[tuple[str, float | None, int]]]


def year_stats(cases: Iterable[Case], facts: Iterable[Fact], fiscal_year: int) -> YearStats:
    mine = of_year(cases, fiscal_year)
    categories = Counter(c.category or "general" for c in mine)
    villages = Counter(c.village_no for c in mine)
    received = Counter(month_of(c.received_at) for c in mine)
    done = Counter(month_of(at) for c in mine if (at := resolved_at(c)) is not None)
    bands = Counter[tuple[int, int | None]]()
    for case in mine:
        days = days_to_resolve(case)
        if days is None:
            continue
        for low, high in RESOLVE_BANDS:
            if days >= low and (high is None or days < high):
                bands[(low, high)] += 1
                break
    return YearStats(
        fiscal_year=fiscal_year,
        by_category=categories.most_common(),
        by_village=sorted(villages.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)),
        by_month=[(m, received[m], done[m]) for m in fiscal_months(fiscal_year)],
        resolve_bands=[(band, bands[band]) for band in RESOLVE_BANDS],
        by_department=satisfaction_by_department(facts, fiscal_year),
    )


def case_years(cases: Iterable[Case]) -> set[int]:
    return {fiscal_year_of(c) for c in cases if c.kind.value != "improvement_action"}


def shown_year(years: set[int], current: int) -> int:
    """The fiscal year a figure opens on: the current one, or, before it has anything (the
    first days of October, or data replayed from an earlier year), the latest that has."""
    if current in years or not years:
        return current
    return max(years)


def fiscal_years(cases: Iterable[Case], facts: Iterable[Fact], current: int) -> list[int]:
    """The fiscal years there is something to show for, newest first (always the current)."""
    years = {fiscal_year_of(c) for c in cases} | {f.fiscal_year for f in facts} | {current}
    return sorted(years, reverse=True)


# The open-data record: the one shape of /cases.csv and /cases.json, and what the data
# dictionary describes (field, type, meaning in Thai, meaning in English).
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("case_id", "string", "เลขที่เรื่อง", "Case number (SPT-<fiscal year>-<sequence>)"),
    ("kind", "string", "ประเภทเรื่อง", "Kind: complaint, suggestion, opinion, ..."),
    ("channel", "string", "ช่องทางที่รับเรื่อง", "Channel the matter came in by"),
    ("status", "string", "สถานะล่าสุด", "Latest status"),
    ("category", "string", "หมวดหมู่", "Category code (shared taxonomy)"),
    ("department", "string", "หน่วยงานที่รับผิดชอบ", "Responsible department code"),
    ("village_no", "integer", "หมู่ที่", "Village number (หมู่ที่)"),
    ("text", "string", "สรุปเรื่อง (ปกปิดข้อมูลส่วนบุคคล)", "Summary, personal data removed"),
    ("received_at", "datetime", "วันที่รับเรื่อง (ISO 8601)", "Received (ISO 8601, UTC)"),
    ("respond_due_at", "datetime", "กำหนดตอบตามกฎหมาย (15 วัน)", "Legal reply deadline"),
    ("resolved_at", "datetime", "วันที่แก้ไขแล้วเสร็จ", "When it was resolved or closed"),
    ("respond_deadline", "string", "ตอบทันกำหนดหรือไม่", "met, missed, pending or overdue"),
    ("resolution", "string", "ผลการดำเนินการ (ปกปิดข้อมูลส่วนบุคคล)", "Resolution, redacted"),
    ("lat", "number", "ละติจูด (ประมาณ ±100 ม.)", "Latitude, rounded to about 100 m"),
    ("lon", "number", "ลองจิจูด (ประมาณ ±100 ม.)", "Longitude, rounded to about 100 m"),
    ("updated_at", "datetime", "ปรับปรุงล่าสุด", "Last change"),
)


def record(case: Case, now: datetime) -> dict[str, Any]:
    """One case as open data: only what `FIELDS` names, every value published already."""
    respond = next((d for d in deadlines(case, now) if d.name == "respond"), None)
    done = resolved_at(case)
    return {
        "case_id": case.case_id,
        "kind": case.kind.value,
        "channel": case.channel.value,
        "status": case.status,
        "category": case.category,
        "department": case.department,
        "village_no": case.village_no,
        "text": case.text,
        "received_at": case.received_at.isoformat(),
        "respond_due_at": case.respond_due_at.isoformat() if case.respond_due_at else None,
        "resolved_at": done.isoformat() if done else None,
        "respond_deadline": respond.state if respond else None,
        "resolution": case.resolution if case.status in DONE_STATUSES else None,
        "lat": case.lat,
        "lon": case.lon,
        "updated_at": case.updated_at.isoformat(),
    }


def page_of(items: list[Case], page: int, size: int) -> tuple[list[Case], int, int]:
    """One page's items, its number (1-based, clamped to those there are) and how many."""
    pages = max(1, -(-len(items) // size))
    page = min(max(1, page), pages)
    return items[(page - 1) * size : page * size], page, pages
