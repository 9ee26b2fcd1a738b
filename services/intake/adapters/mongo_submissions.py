"""Submissions, case-number counters and the contacts vault in MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.errors import ConcurrencyError
from shared.mongo import Document
from shared.outbox import Emission, OutboxRelay, RawPublisher, save_with_outbox


class MongoSubmissionRepository:
    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._submissions = db["submissions"]
        self._counters = db["counters"]
        self._relay = OutboxRelay(self._submissions, publisher)

    async def ensure_indexes(self) -> None:
        await self._submissions.create_index([("case_id", ASCENDING)], unique=True)
        await self._submissions.create_index([("outbox_pending", ASCENDING)])

    async def get(self, dedup_key: str) -> dict[str, Any] | None:
        return await self._submissions.find_one({"_id": dedup_key}, {"outbox": 0})

    async def next_sequence(self, counter_key: str) -> int:
        doc = await self._counters.find_one_and_update(
            {"_id": counter_key},
            {"$inc": {"seq": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        return int(doc["seq"])

    async def add(self, record: dict[str, Any], emissions: Sequence[Emission]) -> bool:
        try:
            await save_with_outbox(
                self._submissions, record, expected_version=0, emissions=list(emissions)
            )
        except ConcurrencyError:
            return False
        return True

    async def flush(self, dedup_key: str) -> int:
        return await self._relay.flush(dedup_key)

    async def sweep(self) -> int:
        return await self._relay.sweep()


class MongoContactVault:
    """The restricted `contacts` collection: the only place personal data is kept."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._contacts = db["contacts"]

    async def put(self, ref: str, contact: dict[str, Any]) -> None:
        await self._contacts.update_one(
            {"_id": ref}, {"$setOnInsert": {"_id": ref, **contact}}, upsert=True
        )

    async def get(self, ref: str) -> dict[str, Any] | None:
        return await self._contacts.find_one({"_id": ref})
