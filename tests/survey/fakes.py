"""Hand-written fakes of the survey ports (no mocks): in-memory twins of the Mongo adapters.

They keep the adapters' rules: per event, everything is read and written by id, and an
aggregate changes by load -> decide -> compare-and-set save -> retry on conflict. `Ops`
counts what a real database would be asked, and refuses a scan while scans are forbidden.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from itertools import count as counter
from typing import TypeVar

from services.survey.domain.model import (
    Alert,
    Bucket,
    DepartmentMonth,
    KeptBucket,
    MonthKey,
    Response,
    Slice,
    Survey,
)
from services.survey.domain.rules import bucket_of
from services.survey.ports import StoredResponse
from shared.errors import ConcurrencyError
from shared.outbox import Emission
from shared.store import retry_on_conflict
from tests.fakes import FakePublisher, OutboxStore

T = TypeVar("T")


class SimulatedCrash(Exception):
    """The process died here: nothing after it happened."""


class Ops:
    """Database operations asked of the fakes, named as the real adapter would send them."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.scans_allowed = True

    def by_id(self, what: str) -> None:
        self.counts[what] += 1

    def scan(self, what: str) -> None:
        if not self.scans_allowed:
            raise AssertionError(f"{what}: a query over a collection where only _id may be used")
        self.counts[what] += 1

    def total(self) -> int:
        return sum(self.counts.values())


def _insert(store: OutboxStore, key: str, value: object, emissions: Sequence[Emission]) -> bool:
    try:
        store.save(key, value, 0, emissions)
    except ConcurrencyError:
        return False
    return True


class FakeSurveyRepository:
    def __init__(self, publisher: FakePublisher) -> None:
        self.store = OutboxStore(publisher)

    async def add(self, survey: Survey, emissions: Sequence[Emission]) -> bool:
        return _insert(self.store, survey.survey_id, survey, emissions)

    async def get(self, survey_id: str) -> Survey | None:
        return self.store.load(survey_id)  # type: ignore[no-any-return]

    async def by_token(self, token: str) -> Survey | None:
        found = [s for s in self._all() if s.token == token]
        return found[0] if found else None

    async def of_case(self, case_id: str) -> list[Survey]:
        return sorted((s for s in self._all() if s.case_id == case_id), key=lambda s: s.case_seq)

    def _all(self) -> list[Survey]:
        return [self.store.load(k) for k in self.store.docs]

    async def flush(self, survey_id: str) -> int:
        return await self.store.flush(survey_id)

    async def sweep(self) -> int:
        return await self.store.sweep()


class FakeResponseRepository:
    def __init__(self, publisher: FakePublisher, ops: Ops | None = None) -> None:
        self.store = OutboxStore(publisher)
        self.ops = ops or Ops()
        self.counted: set[str] = set()
        # How many of the next mark_counted calls die before they write.
        self.crash_before_marking = 0

    async def add(self, response: Response, emissions: Sequence[Emission]) -> bool:
        self.ops.by_id("responses.insert")
        return _insert(self.store, response.response_id, response, emissions)

    async def ensure(self, response: Response) -> None:
        self.ops.by_id("responses.upsert")
        if response.response_id not in self.store.docs:
            self.store.save(response.response_id, response, 0, [])

    async def load(self, response_id: str) -> StoredResponse | None:
        self.ops.by_id("responses.find")
        response = self.store.load(response_id)
        return StoredResponse(response, response_id in self.counted) if response else None

    async def answered(self, response_ids: Sequence[str]) -> set[str]:
        for _ in response_ids:
            self.ops.by_id("responses.find")
        return {r for r in response_ids if r in self.store.docs}

    async def mark_counted(self, response_ids: Sequence[str]) -> None:
        if self.crash_before_marking:
            self.crash_before_marking -= 1
            raise SimulatedCrash("before marking counted")
        for _ in response_ids:
            self.ops.by_id("responses.update")
        self.counted.update(r for r in response_ids if r in self.store.docs)

    async def scan(self) -> AsyncIterator[StoredResponse]:
        self.ops.scan("responses.scan")
        for key in list(self.store.docs):
            yield StoredResponse(self.store.load(key), key in self.counted)

    def all(self) -> list[Response]:
        """Every stored response (for the tests' own recounts: not a port method)."""
        return [self.store.load(k) for k in self.store.docs]

    async def flush(self, response_id: str) -> int:
        return await self.store.flush(response_id)

    async def sweep(self) -> int:
        return await self.store.sweep()


class _Documents:
    """One collection of versioned aggregates, changed as shared.store.change does."""

    def __init__(self, name: str, ops: Ops, store: FakeAggregateStore) -> None:
        self.name = name
        self.ops = ops
        self.store = store
        self.docs: dict[str, tuple[int, object]] = {}

    def get(self, key: str) -> object | None:
        self.ops.by_id(f"{self.name}.find")
        found = self.docs.get(key)
        return copy.deepcopy(found[1]) if found else None

    async def change(self, key: str, decide: Callable[[T | None], T | None]) -> T | None:
        async def attempt() -> T | None:
            self.ops.by_id(f"{self.name}.find")
            version, current = self.docs.get(key, (0, None))
            # The real store awaits the database here: another writer may get in between.
            await asyncio.sleep(0)
            decided = decide(copy.deepcopy(current))  # type: ignore[arg-type]
            if decided is None:
                return current  # type: ignore[return-value]
            self.store.writing()
            self.ops.by_id(f"{self.name}.{'replace' if version else 'insert'}")
            if self.docs.get(key, (0, None))[0] != version:
                raise ConcurrencyError(f"{key} is not at version {version}")
            self.docs[key] = (version + 1, copy.deepcopy(decided))
            return decided

        return await retry_on_conflict(attempt)

    def values(self) -> list[object]:
        self.ops.scan(f"{self.name}.scan")
        return [copy.deepcopy(v) for _, v in self.docs.values()]

    def delete(self, key: str) -> None:
        self.ops.by_id(f"{self.name}.delete")
        self.docs.pop(key, None)


class FakeAggregateStore:
    def __init__(self, ops: Ops | None = None) -> None:
        self.ops = ops or Ops()
        self._buckets = _Documents("buckets", self.ops, self)
        self._months = _Documents("days", self.ops, self)
        # After this many more writes (of buckets or months) the process dies.
        self.crash_after_writes: int | None = None

    def writing(self) -> None:
        if self.crash_after_writes is not None:
            if self.crash_after_writes <= 0:
                self.crash_after_writes = None
                raise SimulatedCrash("between two aggregates")
            self.crash_after_writes -= 1

    async def change(
        self, slice_: Slice, decide: Callable[[KeptBucket | None], KeptBucket | None]
    ) -> KeptBucket | None:
        return await self._buckets.change(slice_.key, decide)

    async def get(self, slice_: Slice) -> Bucket | None:
        kept = self._buckets.get(slice_.key)
        assert kept is None or isinstance(kept, KeptBucket)
        return bucket_of(kept) if kept else None

    async def of_dimension(self, org_id: str, fiscal_year: int, by: str) -> list[Bucket]:
        return sorted(
            (
                b
                for b in await self.all()
                if (b.slice.org_id, b.slice.fiscal_year, b.slice.by) == (org_id, fiscal_year, by)
            ),
            key=lambda b: b.slice.value,
        )

    async def all(self) -> list[Bucket]:
        return [bucket_of(k) for k in await self.all_kept()]

    async def all_kept(self) -> list[KeptBucket]:
        kept = [k for k in self._buckets.values() if isinstance(k, KeptBucket)]
        return sorted(kept, key=lambda k: k.slice.key)

    async def delete(self, slice_: Slice) -> None:
        self._buckets.delete(slice_.key)

    async def change_month(
        self, key: MonthKey, decide: Callable[[DepartmentMonth | None], DepartmentMonth | None]
    ) -> DepartmentMonth | None:
        return await self._months.change(key.key, decide)

    async def month(self, key: MonthKey) -> DepartmentMonth | None:
        found = self._months.get(key.key)
        assert found is None or isinstance(found, DepartmentMonth)
        return found

    async def all_months(self) -> list[DepartmentMonth]:
        months = [m for m in self._months.values() if isinstance(m, DepartmentMonth)]
        return sorted(months, key=lambda m: m.of.key)

    async def delete_month(self, key: MonthKey) -> None:
        self._months.delete(key.key)

    def clear(self) -> None:
        """Every bucket and month gone, as an operator's delete_many({}) would leave it."""
        self._buckets.docs.clear()
        self._months.docs.clear()


class FakeAlertRepository:
    def __init__(self, publisher: FakePublisher) -> None:
        self.store = OutboxStore(publisher)

    async def add(self, alert: Alert, emissions: Sequence[Emission]) -> bool:
        return _insert(self.store, alert.decision.alert_id, alert, emissions)

    async def flush(self, alert_id: str) -> int:
        return await self.store.flush(alert_id)

    async def sweep(self) -> int:
        return await self.store.sweep()

    def all(self) -> list[Alert]:
        return [self.store.load(k) for k in self.store.docs]

    def _replace(self, alert: Alert) -> None:
        self.store.docs[alert.decision.alert_id]["value"] = copy.deepcopy(alert)

    async def link_case(self, alert_id: str, case_id: str) -> bool:
        alert = self.store.load(alert_id)
        if alert is None or alert.action_case_id is not None:
            return False
        alert.action_case_id, alert.action_status = case_id, "received"
        self._replace(alert)
        return True

    async def track(self, case_id: str, status: str, seq: int, at: datetime) -> bool:
        for alert in self.all():
            if alert.action_case_id == case_id and alert.action_seq < seq:
                alert.action_status, alert.action_seq, alert.action_updated_at = status, seq, at
                self._replace(alert)
                return True
        return False

    async def of_year(self, org_id: str, fiscal_year: int) -> list[Alert]:
        return [
            a for a in self.all() if a.org_id == org_id and a.decision.fiscal_year == fiscal_year
        ]


class SequentialTokens:
    """Predictable tokens for tests (production draws them from `secrets`)."""

    def __init__(self) -> None:
        self._n = counter(1)

    def __call__(self) -> str:
        return f"tok{next(self._n):04d}"
