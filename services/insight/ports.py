"""What insight's handlers need from the outside world, as protocols.

The Mongo adapters implement them (adapters/mongo_insight.py); tests use in-memory twins
that keep the same rules (tests/insight/fakes.py): every per-event read and write is by
`_id`, every write a compare-and-set on the version it was loaded at.
"""

from __future__ import annotations

from typing import Protocol

from services.insight.domain.model import Bucket, CaseRecord, Counts
from services.insight.domain.plan import Consultation, Plan


class CaseRepository(Protocol):
    async def get(self, case_id: str) -> tuple[CaseRecord, int] | None:
        """The case and the version it is stored at."""

    async def save(self, record: CaseRecord, expected_version: int) -> int:
        """Insert (0) or replace iff still at `expected_version` (ConcurrencyError if not);
        the new version."""

    async def all(self, org_id: str) -> list[CaseRecord]:
        """Every case (a scan: operators' checks and tests only, never per event)."""


class FigureRepository(Protocol):
    async def add(self, bucket_id: str, change: Counts, token: str) -> None:
        """Add `change` to the bucket unless its `token` is in it: load -> decide ->
        compare-and-set, retried on conflict."""

    async def get(self, bucket_id: str) -> Bucket | None: ...

    async def find(self, org_id: str, dim: str, fiscal_year: int | None = None) -> list[Bucket]:
        """A dimension's buckets (a read for a page or a report, not per event)."""

    async def all(self, org_id: str) -> list[Bucket]: ...


class ConsultationRepository(Protocol):
    async def add(self, consultation: Consultation) -> bool:
        """False if one with that id is kept already (a client's retry)."""

    async def find(self, org_id: str, fiscal_year: int | None = None) -> list[Consultation]: ...


class PlanRepository(Protocol):
    async def get(self, plan_id: str) -> tuple[Plan, int] | None: ...

    async def save(self, plan: Plan, expected_version: int) -> int: ...

    async def find(self, org_id: str, fiscal_year: int | None = None) -> list[Plan]: ...
