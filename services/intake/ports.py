"""What intake's handlers need from the outside world, as protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
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

    async def name_message(self, channel_ref: str, message_key: str) -> None:
        """Remember the key of the message a channel knows by `channel_ref` (LINE's message
        id, which its unsend names), once (idempotent)."""

    async def message_named(self, channel_ref: str) -> str | None:
        """The key of the message the channel knows by `channel_ref`, if one was kept."""

    async def flush(self, dedup_key: str) -> int: ...

    async def sweep(self) -> int: ...

    async def find(self, query: RequestQuery) -> list[SubmissionRecord]: ...

    async def channel_counts(self) -> list[dict[str, Any]]:
        """[{channel, month, kind, count}] over every case."""


@dataclass(frozen=True)
class VaultEntry:
    """One sealed entry of the vault (services/intake/vault.py seals and opens them)."""

    ref: str  # ct_... (a contact) or tx_... (a citizen's words)
    kind: str  # contact | text
    sealed: str  # Fernet token: nothing personal is stored in the clear
    owner: str  # the dedup key of the case that last set its retention
    stored_at: datetime
    purge_at: datetime  # when its retention runs out


class VaultStore(Protocol):
    """The `vault` collection: sealed entries by reference, and when each expires."""

    async def insert(self, entries: Sequence[VaultEntry]) -> set[str]:
        """Store the entries that are new, in one write; the references that existed
        already (those are left as they were)."""

    async def get(self, ref: str) -> VaultEntry | None: ...

    async def exists(self, ref: str) -> bool:
        """Whether an entry is kept under `ref`, without reading it (a copy of a video may
        be ten megabytes)."""

    async def extend(self, refs: Sequence[str], purge_at: datetime, owner: str) -> None:
        """Move these entries' `purge_at` to `purge_at` where that is later (never earlier),
        naming `owner` as the case that keeps them."""

    async def expired(self, now: datetime, limit: int) -> list[VaultEntry]:
        """Up to `limit` entries whose `purge_at` is not after `now`."""

    async def delete(self, refs: Sequence[str], now: datetime) -> int:
        """Delete those of `refs` still expired at `now`; the count deleted."""

    async def erase(self, refs: Sequence[str]) -> None:
        """Delete these entries now, whatever their retention (the citizen took them back)."""


class RecordBook(Protocol):
    """Records of batch channels: box-opening sessions, activities and meetings."""

    async def keep(self, kind: str, record_id: str, doc: dict[str, Any]) -> None:
        """Store once under the id; a repeat keeps the first version (idempotent)."""

    async def get(self, kind: str, record_id: str) -> dict[str, Any] | None: ...


class Threads(Protocol):
    """Per-user LINE conversation state: which case the user's recent messages join."""

    async def get(self, thread_key: str) -> dict[str, Any] | None: ...

    async def put(self, thread_key: str, doc: dict[str, Any]) -> None: ...
