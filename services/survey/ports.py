"""What the survey handlers need from the outside world, as protocols.

Adapters implement them on MongoDB; tests implement them with fakes. Every write is
one document: a survey, a response or an alert with its outbox; an aggregate bucket; a
department month.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

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
from shared.outbox import Emission


class StoredResponse(NamedTuple):
    response: Response
    # Every bucket and department month of the response has it: a redelivery skips it all.
    counted: bool


class SurveyRepository(Protocol):
    async def add(self, survey: Survey, emissions: Sequence[Emission]) -> bool:
        """Insert with its events; False if a survey with this id exists already."""

    async def get(self, survey_id: str) -> Survey | None: ...

    async def by_token(self, token: str) -> Survey | None: ...

    async def of_case(self, case_id: str) -> list[Survey]: ...

    async def flush(self, survey_id: str) -> int: ...

    async def sweep(self) -> int: ...


class ResponseRepository(Protocol):
    """Per event, by id only: what costs the same however many responses are stored."""

    async def add(self, response: Response, emissions: Sequence[Emission]) -> bool:
        """Insert with its events; False if this response id was recorded already."""

    async def ensure(self, response: Response) -> None:
        """Store a response learnt from an event if it is not stored yet (no events)."""

    async def load(self, response_id: str) -> StoredResponse | None: ...

    async def answered(self, response_ids: Sequence[str]) -> set[str]: ...

    async def mark_counted(self, response_ids: Sequence[str]) -> None:
        """Note that these responses are in every aggregate they belong to."""

    def scan(self) -> AsyncIterator[StoredResponse]:
        """Every stored response: for the operator's full recount only, never per event."""
        ...

    async def flush(self, response_id: str) -> int: ...

    async def sweep(self) -> int: ...


class AggregateStore(Protocol):
    """Buckets (one per slice) and department months (one per department and month), each
    one document changed by load -> decide -> compare-and-set save -> retry on conflict."""

    async def change(
        self, slice_: Slice, decide: Callable[[KeptBucket | None], KeptBucket | None]
    ) -> KeptBucket | None:
        """Apply `decide` to the stored bucket (None: leave it); returns what is stored."""

    async def get(self, slice_: Slice) -> Bucket | None: ...

    async def of_dimension(self, org_id: str, fiscal_year: int, by: str) -> list[Bucket]: ...

    async def all(self) -> list[Bucket]: ...

    async def all_kept(self) -> list[KeptBucket]:
        """Every bucket with its applied ids (a scan: for the full recount only)."""

    async def delete(self, slice_: Slice) -> None: ...

    async def change_month(
        self, key: MonthKey, decide: Callable[[DepartmentMonth | None], DepartmentMonth | None]
    ) -> DepartmentMonth | None: ...

    async def month(self, key: MonthKey) -> DepartmentMonth | None: ...

    async def all_months(self) -> list[DepartmentMonth]:
        """Every department month (a scan: for the full recount only)."""

    async def delete_month(self, key: MonthKey) -> None: ...


class AlertRepository(Protocol):
    async def add(self, alert: Alert, emissions: Sequence[Emission]) -> bool:
        """Insert with its events; False if this alert was raised already."""

    async def flush(self, alert_id: str) -> int: ...

    async def sweep(self) -> int: ...

    async def link_case(self, alert_id: str, case_id: str) -> bool:
        """Record which case the alert's improvement action became."""

    async def track(self, case_id: str, status: str, seq: int, at: datetime) -> bool:
        """Move the action's status forward iff seq is newer than the last one applied."""

    async def of_year(self, org_id: str, fiscal_year: int) -> list[Alert]: ...


class TokenSource(Protocol):
    def __call__(self) -> str: ...
