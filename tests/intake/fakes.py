"""Hand-written fakes of intake's ports (no mocks): in-memory twins of the Mongo adapters."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.intake.adapters.mongo_submissions import from_document, to_document
from services.intake.channels.open311 import RequestQuery
from services.intake.domain.record import SubmissionRecord
from services.intake.ports import VaultEntry
from shared.errors import ConcurrencyError
from shared.outbox import Emission
from shared.topics import Topic
from tests.fakes import FakePublisher, OutboxStore


class FakeSubmissions:
    """Records kept as the Mongo adapter's documents, so every test also reads back what it
    stored; the same version rules as the real store (tests.fakes.OutboxStore)."""

    def __init__(self, publisher: FakePublisher | None = None) -> None:
        self.publisher = publisher or FakePublisher()
        self.store = OutboxStore(self.publisher)
        self.keys: dict[str, str] = {}
        self.counters: Counter[str] = Counter()

    @property
    def docs(self) -> dict[Any, dict[str, Any]]:
        return self.store.docs

    def _load(self, key: str | None) -> SubmissionRecord | None:
        if key is None or key not in self.store.docs:
            return None
        return from_document({**self.store.load(key), "version": self.store.docs[key]["version"]})

    async def get(self, dedup_key: str) -> SubmissionRecord | None:
        return self._load(
            dedup_key if dedup_key in self.store.docs else self.keys.get("msg:" + dedup_key)
        )

    async def get_case(self, case_id: str) -> SubmissionRecord | None:
        return self._load(self.keys.get("case:" + case_id))

    async def next_sequence(self, counter_key: str) -> int:
        self.counters[counter_key] += 1
        return self.counters[counter_key]

    async def add(self, record: SubmissionRecord, emissions: Sequence[Emission]) -> bool:
        if "case:" + record.case_id in self.keys:  # the unique index on case_id
            return False
        try:
            record.version = self.store.save(record.dedup_key, to_document(record), 0, emissions)
        except ConcurrencyError:
            return False
        self.keys["case:" + record.case_id] = record.dedup_key
        return True

    async def update(self, record: SubmissionRecord, emissions: Sequence[Emission]) -> bool:
        try:
            record.version = self.store.save(
                record.dedup_key, to_document(record), record.version, emissions
            )
        except ConcurrencyError:
            return False
        return True

    async def alias(self, message_key: str, dedup_key: str) -> None:
        self.keys.setdefault("msg:" + message_key, dedup_key)

    async def name_message(self, channel_ref: str, message_key: str) -> None:
        self.keys.setdefault("id:" + channel_ref, message_key)

    async def message_named(self, channel_ref: str) -> str | None:
        return self.keys.get("id:" + channel_ref)

    async def flush(self, dedup_key: str) -> int:
        return await self.store.flush(dedup_key)

    async def sweep(self) -> int:
        return await self.store.sweep()

    def _stored(self) -> list[dict[str, Any]]:
        return [self.store.load(key) for key in self.store.docs]

    async def find(self, query: RequestQuery) -> list[SubmissionRecord]:
        if query.case_ids:
            found = [await self.get_case(c) for c in query.case_ids]
            return [r for r in found if r is not None]
        assert query.start is not None and query.end is not None
        out = []
        # The filters and the order of the real query, on the stored fields.
        for doc in sorted(self._stored(), key=lambda d: str(d["_id"])):
            if not query.start <= doc["received_at"] <= query.end:
                continue
            if query.service_codes and doc["effective_service_code"] not in query.service_codes:
                continue
            if len(query.status) == 1 and doc["is_open"] != ("open" in query.status):
                continue
            out.append(doc)
        out.sort(key=lambda d: d["received_at"], reverse=True)
        return [r for r in (self._load(d["_id"]) for d in out[: query.limit]) if r is not None]

    async def channel_counts(self) -> list[dict[str, Any]]:
        counts = Counter((d["channel"], d["month"], d["kind"]) for d in self._stored())
        return [
            {"channel": c, "month": m, "kind": k, "count": n} for (c, m, k), n in counts.items()
        ]

    def on(self, topic: Topic) -> list[Any]:
        return self.publisher.on(topic)


class FakeVault:
    """The vault's store as the Mongo adapter keeps it: sealed entries by reference."""

    def __init__(self) -> None:
        self.entries: dict[str, VaultEntry] = {}
        self.writes = 0  # inserts: one per case, whatever it keeps

    async def insert(self, entries: Sequence[VaultEntry]) -> set[str]:
        self.writes += 1
        existing = {e.ref for e in entries if e.ref in self.entries}
        self.entries.update({e.ref: e for e in entries if e.ref not in existing})
        return existing

    async def get(self, ref: str) -> VaultEntry | None:
        return self.entries.get(ref)

    async def exists(self, ref: str) -> bool:
        return ref in self.entries

    async def extend(self, refs: Sequence[str], purge_at: datetime, owner: str) -> None:
        for ref in refs:
            entry = self.entries.get(ref)
            if entry is not None and entry.purge_at < purge_at:
                self.entries[ref] = replace(entry, purge_at=purge_at, owner=owner)

    async def expired(self, now: datetime, limit: int) -> list[VaultEntry]:
        return [e for e in self.entries.values() if e.purge_at <= now][:limit]

    async def delete(self, refs: Sequence[str], now: datetime) -> int:
        gone = [r for r in refs if r in self.entries and self.entries[r].purge_at <= now]
        for ref in gone:
            del self.entries[ref]
        return len(gone)

    async def erase(self, refs: Sequence[str]) -> None:
        for ref in refs:
            self.entries.pop(ref, None)

    def of(self, kind: str) -> dict[str, VaultEntry]:
        return {ref: e for ref, e in self.entries.items() if e.kind == kind}


class FakeRecords:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}

    async def keep(self, kind: str, record_id: str, doc: dict[str, Any]) -> None:
        self.records.setdefault((kind, record_id), copy.deepcopy(doc))

    async def get(self, kind: str, record_id: str) -> dict[str, Any] | None:
        return self.records.get((kind, record_id))


class FakeThreads:
    def __init__(self) -> None:
        self.threads: dict[str, dict[str, Any]] = {}

    async def get(self, thread_key: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.threads.get(thread_key))

    async def put(self, thread_key: str, doc: dict[str, Any]) -> None:
        self.threads[thread_key] = dict(doc)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.letters: dict[str, dict[str, Any]] = {}

    async def keep(self, letter: dict[str, Any]) -> bool:
        if letter["_id"] in self.letters:
            return False
        self.letters[letter["_id"]] = copy.deepcopy(letter)
        return True

    async def get(self, letter_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.letters.get(letter_id))

    async def list(self, limit: int, offset: int) -> list[dict[str, Any]]:
        return list(self.letters.values())[offset : offset + limit]

    async def mark_replayed(self, letter_id: str, at: datetime) -> None:
        self.letters[letter_id]["replays"].append(at)
