"""The vault: the one place intake keeps personal data (contacts, the citizen's own words,
the photos, voice messages, videos and files they sent on LINE).

Everything else, Kafka included, carries only a reference (`ct_...`, `tx_...`). Entries are
sealed with Fernet (AES-128-CBC and HMAC-SHA256, from `cryptography`) under RUAM_VAULT_KEY
before they reach the database, so a copy of the database or of a backup shows nothing
without the key. Each entry's reference is sealed inside it and checked on opening: a
sealed value copied under another reference in the database does not open there.

Every entry carries `purge_at`: the moment its retention runs out (docs/personal-data.md).
It is set when the entry is stored and pushed later when the case it serves is closed;
`purge` deletes what has run out, a batch at a time, from a periodic loop, and leaves an
entry whose case is still open for a later round. Reads are audited by the caller
(GET /v1/cases/{case_id}/personal records `contact.read` / `text.read` first).

    python -m services.intake.vault keygen    # a key for RUAM_VAULT_KEY
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.intake.ports import VaultEntry, VaultStore
from shared.clock import Clock

log = logging.getLogger("ruam.intake.vault")

EntryKind = Literal["contact", "text", "photo", "media"]
# Entries deleted per purge round: a backlog (a vault that was down for a month) is worked
# off over several rounds rather than in one long delete.
PURGE_BATCH = 500
# An expired entry whose case is still open is looked at again after this long.
OPEN_CASE_GRACE = timedelta(days=30)

StillNeeded = Callable[[str], Awaitable[bool]]


class VaultKeyError(ValueError):
    """A sealed entry that none of the configured keys opens (or that was moved)."""


class Sealer:
    """Fernet with key rotation: the first key seals, any of them opens."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("the vault needs at least one key")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def seal(self, ref: str, value: Any) -> str:
        plain = json.dumps({"ref": ref, "value": value}, ensure_ascii=False)
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, ref: str, sealed: str) -> Any:
        try:
            plain = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            raise VaultKeyError(
                f"vault entry {ref} does not open with the configured keys"
            ) from exc
        if not isinstance(plain, dict) or plain.get("ref") != ref:
            raise VaultKeyError(f"vault entry {ref} was sealed for another reference")
        return plain.get("value")


class PersonalVault:
    """Sealed, expiring personal data over a `VaultStore` (Mongo, or the tests' fake)."""

    def __init__(
        self,
        store: VaultStore,
        sealer: Sealer,
        clock: Clock,
        *,
        retention: timedelta,
        still_needed: StillNeeded | None = None,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.clock = clock
        self.retention = retention
        # Whether the case behind an entry (named by its dedup key) is still open; set by
        # the handlers, which know the cases.
        self.still_needed = still_needed

    async def keep(self, ref: str, kind: EntryKind, value: Any, *, owner: str) -> None:
        await self.keep_all([(ref, kind, value)], owner=owner)

    async def keep_all(self, items: Sequence[tuple[str, EntryKind, Any]], *, owner: str) -> None:
        """Store each `value` under its `ref` for the case `owner` (its dedup key), in one
        write. A reference kept before (the same LINE user, a redelivery) keeps its first
        value, and its retention runs from now if that is later."""
        now = self.clock.now()
        purge_at = now + self.retention
        entries = [
            VaultEntry(
                ref=ref,
                kind=kind,
                sealed=self.sealer.seal(ref, value),
                owner=owner,
                stored_at=now,
                purge_at=purge_at,
            )
            for ref, kind, value in items
        ]
        existing = await self.store.insert(entries)
        if existing:
            await self.store.extend(sorted(existing), purge_at, owner)

    async def retain(self, refs: Sequence[str], *, since: datetime, owner: str) -> None:
        """The case `owner` closed at `since`: keep its entries a full retention from then."""
        if refs:
            await self.store.extend(list(refs), since + self.retention, owner)

    async def has(self, ref: str) -> bool:
        """Whether an entry is kept under `ref` (nothing is read or opened, so nothing to
        audit)."""
        return await self.store.exists(ref)

    async def read(
        self, ref: str, *, before_open: Callable[[], Awaitable[None]] | None = None
    ) -> Any | None:
        """The value under `ref`, None if there is none (never kept, or purged). The caller
        has put the read on the audit trail, or does it in `before_open`: once the entry is
        found, before it is opened."""
        entry = await self.store.get(ref)
        if entry is None:
            return None
        if before_open is not None:
            await before_open()
        return self.sealer.open(ref, entry.sealed)

    async def erase(self, refs: Sequence[str]) -> None:
        """Delete these entries at once: what the citizen took back is not kept."""
        if refs:
            await self.store.erase(refs)

    async def purge(self) -> int:
        """Delete one batch of entries whose retention ran out; the count deleted."""
        now = self.clock.now()
        expired = await self.store.expired(now, PURGE_BATCH)
        gone: list[str] = []
        for entry in expired:
            if self.still_needed is not None and await self.still_needed(entry.owner):
                # Its case is open (a matter older than the retention): the contact is still
                # how the officer answers. Looked at again later, not deleted.
                await self.store.extend([entry.ref], now + OPEN_CASE_GRACE, entry.owner)
            else:
                gone.append(entry.ref)
        # Only what is still expired: a new case of the same LINE user may have extended an
        # entry since it was listed.
        return await self.store.delete(gone, now) if gone else 0


def sealer_of(keys: Sequence[str], dev_key: str) -> Sealer:
    """The settings' keys; the published dev key when none are set (RUAM_ENV=dev only:
    the settings refuse to start without a key anywhere else)."""
    return Sealer(list(keys) or [dev_key])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["keygen"]:
        print("usage: python -m services.intake.vault keygen", file=sys.stderr)
        return 2
    print(Fernet.generate_key().decode("ascii"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
