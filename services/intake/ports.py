"""What intake's handlers need from the outside world, as protocols."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from services.intake.channels.open311 import RequestQuery
from services.intake.domain.record import SubmissionRecord
from shared.outbox import Emission


class SubmissionRepository(Protocol):
    """One record per case (keyed by channel + channel message id) with its outbox."""

    async def get(self, dedup_key: str) -> SubmissionRecord | None:
        """The case a channel message belongs to: its own, or the one it was added to."""

    async def get_case(self, case_id: str) -> SubmissionRecord | None: ...

    async def next_sequence(self, counter_key: str) -> int: ...

    async def add(self, record: SubmissionRecord, emissions: Sequence[Emission]) -> bool:
        """Insert a new record with its events; False if its dedup key or case id exists."""

    async def update(self, record: SubmissionRecord, emissions: Sequence[Emission]) -> bool:
        """Replace iff still at the version it was read at, appending the events (the
        record then has its new version); False if someone changed it meanwhile."""

    async def alias(self, message_key: str, dedup_key: str) -> None:
        """Remember that a later channel message was added to an existing case (idempotent)."""

    async def flush(self, dedup_key: str) -> int: ...

    async def sweep(self) -> int: ...

    async def find(self, query: RequestQuery) -> list[SubmissionRecord]: ...

    async def channel_counts(self) -> list[dict[str, Any]]:
        """[{channel, month, kind, count}] over every case."""


class ContactVault(Protocol):
    """The restricted store of personal data; everything else holds only the reference."""

    async def put(self, ref: str, contact: dict[str, Any]) -> None:
        """Store under a reference derived from the submission (idempotent)."""

    async def get(self, ref: str) -> dict[str, Any] | None: ...


class RecordBook(Protocol):
    """Records of batch channels: box-opening sessions, activities and meetings."""

    async def keep(self, kind: str, record_id: str, doc: dict[str, Any]) -> None:
        """Store once under the id; a repeat keeps the first version (idempotent)."""

    async def get(self, kind: str, record_id: str) -> dict[str, Any] | None: ...


class Threads(Protocol):
    """Per-user LINE conversation state: which case the user's recent messages join."""

    async def get(self, thread_key: str) -> dict[str, Any] | None: ...

    async def put(self, thread_key: str, doc: dict[str, Any]) -> None: ...
