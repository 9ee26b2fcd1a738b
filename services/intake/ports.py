"""What intake's handlers need from the outside world, as protocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.outbox import Emission


class SubmissionRepository(Protocol):
    async def get(self, dedup_key: str) -> dict[str, Any] | None: ...

    async def next_sequence(self, counter_key: str) -> int: ...

    async def add(self, record: dict[str, Any], emissions: Sequence[Emission]) -> bool:
        """Insert a submission with its events; False if its dedup key or case id exists."""

    async def flush(self, dedup_key: str) -> int: ...

    async def sweep(self) -> int: ...


class ContactVault(Protocol):
    """The restricted store of personal data; everything else holds only the reference."""

    async def put(self, ref: str, contact: dict[str, Any]) -> None:
        """Store under a reference derived from the submission (idempotent)."""

    async def get(self, ref: str) -> dict[str, Any] | None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
