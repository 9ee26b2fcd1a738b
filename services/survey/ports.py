"""What the survey handlers need from the outside world, as protocols.

Adapters implement them on MongoDB; tests implement them with fakes. Every write is
one document: a survey, a response or an alert with its outbox; an aggregate bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.survey.domain.model import Alert, AnswerScalar, Bucket, Response, Slice, Survey
from shared.outbox import Emission

# How many responses a slice holds, and how often each (question, answer) was given.
Counts = tuple[int, dict[tuple[str, AnswerScalar], int]]


class SurveyRepository(Protocol):
    async def add(self, survey: Survey, emissions: Sequence[Emission]) -> bool:
        """Insert with its events; False if a survey with this id exists already."""

    async def get(self, survey_id: str) -> Survey | None: ...

    async def by_token(self, token: str) -> Survey | None: ...

    async def of_case(self, case_id: str) -> list[Survey]: ...

    async def flush(self, survey_id: str) -> int: ...

    async def sweep(self) -> int: ...


class ResponseRepository(Protocol):
    async def add(self, response: Response, emissions: Sequence[Emission]) -> bool:
        """Insert with its events; False if this response id was recorded already."""

    async def ensure(self, response: Response) -> None:
        """Store a response learnt from an event if it is not stored yet (no events)."""

    async def get(self, response_id: str) -> Response | None: ...

    async def answered(self, response_ids: Sequence[str]) -> set[str]: ...

    async def count(self, slice_: Slice) -> Counts:
        """Count a slice's responses and answers from the stored responses."""

    async def count_window(
        self, org_id: str, department: str, start: datetime, end: datetime
    ) -> Counts:
        """Same, for one department's responses given in (start, end]."""

    async def slices(self) -> list[Slice]:
        """Every slice some stored response falls in."""

    async def flush(self, response_id: str) -> int: ...

    async def sweep(self) -> int: ...


class AggregateStore(Protocol):
    async def put(self, bucket: Bucket, *, force: bool = False) -> bool:
        """Set a slice's figures. Unless forced, never replace figures computed from more
        responses (a slower recomputation must not undo a newer one); False if refused."""

    async def get(self, slice_: Slice) -> Bucket | None: ...

    async def of_dimension(self, org_id: str, fiscal_year: int, by: str) -> list[Bucket]: ...

    async def all(self) -> list[Bucket]: ...

    async def delete_except(self, keys: set[str]) -> int: ...


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
