"""In-memory twins of insight's Mongo adapters (no mocks), keeping their rules: per event
everything is read and written by id, every write is a compare-and-set on the version
it was loaded at, and a bucket takes a change once per token. `crash_after` makes the
figures die after that many more writes, as a killed process would: nothing after it
happens, and what was written stays."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from services.insight.adapters.directory import Directory
from services.insight.domain import rules
from services.insight.domain.model import Bucket, CaseRecord, Counts
from services.insight.domain.plan import Consultation, Plan
from shared.errors import ConcurrencyError
from shared.store import retry_on_conflict

if TYPE_CHECKING:
    from services.insight.bootstrap import InsightService


class SimulatedCrash(BaseException):
    """The process died here (a BaseException: no handler's `except Exception` absorbs it)."""


class FakeCases:
    def __init__(self) -> None:
        self.docs: dict[str, tuple[CaseRecord, int]] = {}
        self.saves = 0

    async def get(self, case_id: str) -> tuple[CaseRecord, int] | None:
        found = self.docs.get(case_id)
        return copy.deepcopy(found) if found else None

    async def save(self, record: CaseRecord, expected_version: int) -> int:
        current = self.docs.get(record.facts.case_id)
        if (current[1] if current else 0) != expected_version:
            raise ConcurrencyError(f"{record.facts.case_id} is not at {expected_version}")
        self.docs[record.facts.case_id] = (copy.deepcopy(record), expected_version + 1)
        self.saves += 1
        return expected_version + 1

    async def all(self, org_id: str) -> list[CaseRecord]:
        return [r for r, _ in self.docs.values() if r.facts.org_id == org_id]


class FakeFigures:
    def __init__(self) -> None:
        self.docs: dict[str, tuple[Bucket, int]] = {}
        self.crash_after: int | None = None
        self.writes = 0

    def _tick(self) -> None:
        if self.crash_after is not None:
            if self.crash_after <= 0:
                raise SimulatedCrash("killed mid-stream")
            self.crash_after -= 1

    async def add(self, bucket_id: str, change: Counts, token: str) -> None:
        async def attempt() -> None:
            found = self.docs.get(bucket_id)
            bucket, version = found if found else (None, 0)
            added = rules.add(copy.deepcopy(bucket), bucket_id, change, token)
            if added is None:
                return
            if (self.docs[bucket_id][1] if bucket_id in self.docs else 0) != version:
                raise ConcurrencyError(bucket_id)
            self._tick()
            self.docs[bucket_id] = (added, version + 1)
            self.writes += 1

        await retry_on_conflict(attempt)

    async def get(self, bucket_id: str) -> Bucket | None:
        found = self.docs.get(bucket_id)
        return found[0] if found else None

    async def find(self, org_id: str, dim: str, fiscal_year: int | None = None) -> list[Bucket]:
        return [
            b
            for b, _ in self.docs.values()
            if b.org_id == org_id
            and b.dim == dim
            and (fiscal_year is None or b.fiscal_year == fiscal_year)
            and rules.listed(b)  # as the real lists: no place or chain of one report
        ]

    async def all(self, org_id: str) -> list[Bucket]:
        return [b for b, _ in self.docs.values() if b.org_id == org_id]


class FakeConsultations:
    def __init__(self) -> None:
        self.docs: dict[str, Consultation] = {}

    async def add(self, consultation: Consultation) -> bool:
        if consultation.consultation_id in self.docs:
            return False
        self.docs[consultation.consultation_id] = consultation
        return True

    async def find(self, org_id: str, fiscal_year: int | None = None) -> list[Consultation]:
        return sorted(
            (
                c
                for c in self.docs.values()
                if c.org_id == org_id
                and (fiscal_year is None or c.fiscal_quarter[0] == fiscal_year)
            ),
            key=lambda c: (c.held_on, c.consultation_id),
        )


class FakePlans:
    def __init__(self) -> None:
        self.docs: dict[str, tuple[Plan, int]] = {}

    async def get(self, plan_id: str) -> tuple[Plan, int] | None:
        return self.docs.get(plan_id)

    async def save(self, plan: Plan, expected_version: int) -> int:
        current = self.docs.get(plan.plan_id)
        if (current[1] if current else 0) != expected_version:
            raise ConcurrencyError(plan.plan_id)
        self.docs[plan.plan_id] = (plan, expected_version + 1)
        return expected_version + 1

    async def find(self, org_id: str, fiscal_year: int | None = None) -> list[Plan]:
        return sorted(
            (
                p
                for p, _ in self.docs.values()
                if p.org_id == org_id and (fiscal_year is None or p.fiscal_year == fiscal_year)
            ),
            key=lambda p: p.plan_id,
        )


DIRECTORY = Directory(
    org_id="sraphonthong",
    name_th="องค์การบริหารส่วนตำบลสระโพนทอง",
    departments={"engineering": "กองช่าง", "health": "กองสาธารณสุขและสิ่งแวดล้อม", "office": "สำนักปลัด"},
    villages={n: f"หมู่บ้านที่ {n}" for n in range(1, 9)},
    population={1: 820, 2: 640, 3: 910, 4: 1210, 5: 700, 6: 560, 7: 480, 8: 1050},
)


def without_empty(figures: dict[str, Counts]) -> dict[str, Counts]:
    return {b: c for b, c in figures.items() if c}


def day(text: str) -> date:
    return date.fromisoformat(text)


def flatten(items: Iterable[Any]) -> list[Any]:
    return [x for group in items for x in group]


def insight_service(now: datetime, directory: Directory = DIRECTORY) -> InsightService:
    """Insight's API on these fakes at a fixed moment, trusting the tests' identity
    provider."""
    from services.insight.bootstrap import create_service
    from services.insight.settings import InsightSettings
    from shared.clock import FixedClock
    from tests.signing import sign_in

    built = create_service(
        InsightSettings(),
        cases=FakeCases(),
        figures=FakeFigures(),
        consultations=FakeConsultations(),
        plans=FakePlans(),
        directory=directory,
        clock=FixedClock(now),
    )
    sign_in(built)
    return built
