"""What routing's handlers need from the outside world, as protocols.

Adapters implement them on MongoDB and Kafka; tests implement them with fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from services.routing.domain.model import Case
from shared.outbox import Emission


class CaseRepository(Protocol):
    async def get(self, case_id: str) -> Case | None: ...

    async def save(self, case: Case, emissions: Sequence[Emission]) -> None:
        """Store the case with the events it produced, in one atomic write.

        A new case (version 0) is inserted; a known one is replaced iff its version did
        not move since it was loaded (ConcurrencyError otherwise). Bumps case.version.
        """

    async def flush(self, case_id: str) -> int:
        """Publish the case's stored-but-unpublished events; returns how many."""

    async def sweep(self) -> int:
        """Flush every case that still has unpublished events."""

    async def find(self, filters: dict[str, Any], limit: int, offset: int) -> list[Case]: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
