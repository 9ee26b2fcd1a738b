"""What routing's handlers need from the outside world, as protocols.

Adapters implement them on MongoDB, Kafka and files; tests implement them with fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from services.routing.domain.directory import Directory
from services.routing.domain.duplicates import Candidate
from services.routing.domain.model import Case
from shared.outbox import Emission


class CaseRepository(Protocol):
    async def get(self, case_id: str) -> Case | None: ...

    def reserve(self, case: Case) -> None:
        """Count a new case as open at once, before its save lands: the next case decided
        (of a burst handled concurrently) sees its officer's load and it as a duplicate."""

    async def save(self, case: Case, emissions: Sequence[Emission]) -> None:
        """Store the case with the events it produced, in one atomic write.

        A new case (version 0) is inserted; a known one is replaced iff its version did
        not move since it was loaded (ConcurrencyError otherwise). Bumps case.version.
        """

    async def history(self, case_id: str, kind: str, no: int) -> list[Any]:
        """Chunk `no` of the entries of a history list (`HISTORY_KINDS`) the case filed
        away when saved (`Case.file_history`); [] if there is none."""

    async def flush(self, case_id: str) -> int:
        """Publish the case's stored-but-unpublished events; returns how many."""

    async def sweep(self) -> int:
        """Flush every case that still has unpublished events."""

    async def find(
        self,
        filters: dict[str, Any],
        limit: int,
        offset: int,
        *,
        overdue_at: datetime | None = None,
    ) -> list[Case]:
        """Cases matching equality filters (and overdue at a moment), oldest receipt first."""

    async def summaries(
        self,
        filters: dict[str, Any],
        limit: int,
        offset: int,
        *,
        overdue_at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Like find, but only the indexed fields of each case: a work queue at a glance."""

    async def count(
        self, filters: dict[str, Any], *, overdue_at: datetime | None = None
    ) -> int: ...

    async def loads(self) -> dict[str, int]:
        """Open cases per officer id: what "least-loaded" is measured by."""

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of cases with a timer due at `now` or earlier."""

    async def duplicate_candidates(self, case: Case, limit: int) -> list[Candidate]:
        """Open cases that could be the same matter: same category nearby, or same village."""


class DirectorySource(Protocol):
    def get(self, org_id: str) -> Directory:
        """The organisation's current directory; UnknownOrganisation if there is none."""


class RankedCategoryLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def label_th(self) -> str: ...
    @property
    def label_en(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def evidence(self) -> tuple[str, ...]: ...


class CategoryRanker(Protocol):
    def rank(self, text: str | None, top_k: int = 5) -> Sequence[RankedCategoryLike]: ...
