"""Hand-written fakes of intake's ports (no mocks): in-memory twins of the Mongo adapters."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.intake.domain.open311 import RequestQuery
from shared.outbox import Emission
from shared.topics import Topic
from tests.fakes import FakePublisher


class FakeSubmissions:
    def __init__(self, publisher: FakePublisher | None = None) -> None:
        self.publisher = publisher or FakePublisher()
        self.docs: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.counters: Counter[str] = Counter()

    def _copy(self, key: str | None) -> dict[str, Any] | None:
        if key is None or key not in self.docs:
            return None
        doc = copy.deepcopy(self.docs[key])
        doc.pop("outbox", None)
        return doc

    async def get(self, dedup_key: str) -> dict[str, Any] | None:
        return self._copy(
            dedup_key if dedup_key in self.docs else self.keys.get("msg:" + dedup_key)
        )

    async def get_case(self, case_id: str) -> dict[str, Any] | None:
        return self._copy(self.keys.get("case:" + case_id))

    async def next_sequence(self, counter_key: str) -> int:
        self.counters[counter_key] += 1
        return self.counters[counter_key]

    async def add(self, record: dict[str, Any], emissions: Sequence[Emission]) -> bool:
        if record["_id"] in self.docs or "case:" + record["case_id"] in self.keys:
            return False
        self.docs[record["_id"]] = {
            **copy.deepcopy(record),
            "version": 1,
            "outbox": [e.to_item() for e in emissions],
        }
        self.keys["case:" + record["case_id"]] = record["_id"]
        return True

    async def update(
        self, record: dict[str, Any], expected_version: int, emissions: Sequence[Emission]
    ) -> bool:
        current = self.docs.get(record["_id"])
        if current is None or current["version"] != expected_version:
            return False
        outbox = current["outbox"] + [e.to_item() for e in emissions]
        body = {k: v for k, v in copy.deepcopy(record).items() if k not in ("version", "outbox")}
        self.docs[record["_id"]] = {**body, "version": expected_version + 1, "outbox": outbox}
        return True

    async def alias(self, message_key: str, dedup_key: str) -> None:
        self.keys.setdefault("msg:" + message_key, dedup_key)

    async def flush(self, dedup_key: str) -> int:
        doc = self.docs.get(dedup_key)
        if not doc or not doc["outbox"]:
            return 0
        items = doc["outbox"]
        for item in items:
            await self.publisher.publish_raw(
                Topic(item["topic"]), item["key"], item["value"].encode()
            )
        doc["outbox"] = []
        return len(items)

    async def sweep(self) -> int:
        return sum([await self.flush(k) for k in list(self.docs)])

    async def find(self, query: RequestQuery) -> list[dict[str, Any]]:
        if query.case_ids:
            found = [await self.get_case(c) for c in query.case_ids]
            return [d for d in found if d is not None]
        out = []
        for key in self.docs:
            doc = self._copy(key)
            assert doc is not None
            assert query.start is not None and query.end is not None
            if not query.start <= doc["received_at"] <= query.end:
                continue
            if query.service_code and doc["effective_service_code"] != query.service_code:
                continue
            if len(query.status) == 1 and doc["is_open"] != ("open" in query.status):
                continue
            out.append(doc)
        out.sort(key=lambda d: d["received_at"], reverse=True)
        return out[: query.limit]

    async def channel_counts(self) -> list[dict[str, Any]]:
        counts = Counter((d["channel"], d["month"], d["kind"]) for d in self.docs.values())
        return [
            {"channel": c, "month": m, "kind": k, "count": n} for (c, m, k), n in counts.items()
        ]

    def on(self, topic: Topic) -> list[Any]:
        return self.publisher.on(topic)


class FakeContacts:
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}

    async def put(self, ref: str, contact: dict[str, Any]) -> None:
        self.contacts.setdefault(ref, dict(contact))

    async def get(self, ref: str) -> dict[str, Any] | None:
        return self.contacts.get(ref)


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
