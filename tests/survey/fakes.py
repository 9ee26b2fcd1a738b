"""Hand-written fakes of the survey ports (no mocks): in-memory twins of the Mongo adapters."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from itertools import count as counter

from services.survey.domain.model import Alert, AnswerScalar, Bucket, Response, Slice, Survey
from services.survey.ports import Counts
from shared.errors import ConcurrencyError
from shared.outbox import Emission
from tests.fakes import FakePublisher, OutboxStore


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
    def __init__(self, publisher: FakePublisher) -> None:
        self.store = OutboxStore(publisher)

    async def add(self, response: Response, emissions: Sequence[Emission]) -> bool:
        return _insert(self.store, response.response_id, response, emissions)

    async def ensure(self, response: Response) -> None:
        if response.response_id not in self.store.docs:
            self.store.save(response.response_id, response, 0, [])

    async def get(self, response_id: str) -> Response | None:
        return self.store.load(response_id)  # type: ignore[no-any-return]

    async def answered(self, response_ids: Sequence[str]) -> set[str]:
        return {r for r in response_ids if r in self.store.docs}

    def all(self) -> list[Response]:
        return [self.store.load(k) for k in self.store.docs]

    @staticmethod
    def _counts(found: list[Response]) -> Counts:
        counts: dict[tuple[str, AnswerScalar], int] = {}
        for r in found:
            for a in r.scored:
                counts[(a.question_id, a.value)] = counts.get((a.question_id, a.value), 0) + 1
        return len(found), counts

    async def count(self, slice_: Slice) -> Counts:
        return self._counts(
            [
                r
                for r in self.all()
                if r.org_id == slice_.org_id
                and r.fiscal_year == slice_.fiscal_year
                and r.slice_value(slice_.by) == slice_.value
            ]
        )

    async def count_window(
        self, org_id: str, department: str, start: datetime, end: datetime
    ) -> Counts:
        return self._counts(
            [
                r
                for r in self.all()
                if r.org_id == org_id
                and r.slice_value("department") == department
                and start < r.responded_at <= end
            ]
        )

    async def slices(self) -> list[Slice]:
        from services.survey.domain.rules import slices_of

        return sorted({s for r in self.all() for s in slices_of(r)}, key=lambda s: s.key)

    async def flush(self, response_id: str) -> int:
        return await self.store.flush(response_id)

    async def sweep(self) -> int:
        return await self.store.sweep()


class FakeAggregateStore:
    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}

    async def put(self, bucket: Bucket, *, force: bool = False) -> bool:
        current = self.buckets.get(bucket.slice.key)
        if not force and current is not None and current.responses > bucket.responses:
            return False
        self.buckets[bucket.slice.key] = bucket
        return True

    async def get(self, slice_: Slice) -> Bucket | None:
        return self.buckets.get(slice_.key)

    async def of_dimension(self, org_id: str, fiscal_year: int, by: str) -> list[Bucket]:
        return sorted(
            (
                b
                for b in self.buckets.values()
                if (b.slice.org_id, b.slice.fiscal_year, b.slice.by) == (org_id, fiscal_year, by)
            ),
            key=lambda b: b.slice.value,
        )

    async def all(self) -> list[Bucket]:
        return sorted(self.buckets.values(), key=lambda b: b.slice.key)

    async def delete_except(self, keys: set[str]) -> int:
        stale = [k for k in self.buckets if k not in keys]
        for k in stale:
            del self.buckets[k]
        return len(stale)


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
