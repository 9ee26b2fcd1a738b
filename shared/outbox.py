"""Outbox embedded in the aggregate document.

Without transactions, the only atomic write is a single document. So an aggregate is
saved together with the events its change produced (`outbox`), in one write. The events
are published afterwards and then cleared. If the process dies in between, the events
are still in the document: the relay (at start-up and periodically) or the next
redelivery publishes them. Consumers deduplicate by event id, so publishing twice is
harmless; publishing never is what this prevents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection

from shared.errors import ConcurrencyError
from shared.mongo import Document, is_duplicate_key
from shared.topics import Topic

log = logging.getLogger("ruam.outbox")


class RawPublisher(Protocol):
    async def publish_raw(self, topic: Topic | str, key: str | None, value: bytes) -> None: ...


@dataclass(frozen=True)
class Emission:
    """An event a handler decided to publish, with where and under which key."""

    topic: Topic
    key: str | None
    event: BaseModel

    def to_item(self) -> Document:
        return {
            "topic": self.topic.value,
            "key": self.key,
            "event_id": str(getattr(self.event, "event_id", "")),
            "value": self.event.model_dump_json(),
        }


async def save_with_outbox(
    collection: AsyncCollection[Document],
    doc: Document,
    *,
    expected_version: int,
    emissions: list[Emission],
) -> int:
    """Insert (expected_version 0) or replace the aggregate iff nobody changed it since.

    Returns the new version. Raises ConcurrencyError when the version moved on.
    """
    version, _ = await _save(collection, doc, expected_version, emissions)
    return version


CLAIM_TTL = timedelta(seconds=30)


async def claim_version(collection: AsyncCollection[Document], doc_id: Any, version: int) -> None:
    """Become the one writer allowed to move `doc_id` from `version`, or raise.

    A filtered replace (`{_id, version}`) is not a compare-and-set on FerretDB v1 (SQLite):
    two concurrent ones can both match. A unique `_id` insert is atomic there and on MongoDB,
    so each version transition first inserts `<id>#<version>` into `<collection>_claims`.
    A claim left by a writer that died mid-write is taken over after CLAIM_TTL.
    """
    claims = collection.database[f"{collection.name}_claims"]
    claim_id = f"{doc_id}#{version}"
    token = uuid.uuid4().hex
    for _ in range(2):
        try:
            await claims.insert_one({"_id": claim_id, "at": datetime.now(UTC), "by": token})
            # Nobody can move from the previous version any more: its claim is done.
            await claims.delete_one({"_id": f"{doc_id}#{version - 1}"})
            return
        except asyncio.CancelledError:
            # Shutdown mid-claim: the insert may have landed. Drop it if it is ours, or it
            # blocks the aggregate for CLAIM_TTL after a plain restart.
            await asyncio.shield(claims.delete_one({"_id": claim_id, "by": token}))
            raise
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        held = await claims.find_one({"_id": claim_id})
        if held is not None and datetime.now(UTC) - held["at"] < CLAIM_TTL:
            break
        if held is not None:
            await claims.delete_one({"_id": claim_id, "at": held["at"]})
    raise ConcurrencyError(f"{doc_id} is being changed from version {version}")


async def _save(
    collection: AsyncCollection[Document],
    doc: Document,
    expected_version: int,
    emissions: list[Emission],
) -> tuple[int, list[Document]]:
    items = [e.to_item() for e in emissions]
    body = {k: v for k, v in doc.items() if k not in ("version", "outbox", "outbox_pending")}
    new_version = expected_version + 1
    if expected_version == 0:
        body.update(version=new_version, outbox=items, outbox_pending=bool(items))
        try:
            await collection.insert_one(body)
        except Exception as exc:
            if is_duplicate_key(exc):
                raise ConcurrencyError(f"{doc['_id']} already exists") from exc
            raise
        return new_version, items
    # Filters name the _id alone: FerretDB pushes only that down to SQLite and scans the
    # whole collection for anything else. The claim is what makes the write conditional.
    await claim_version(collection, doc["_id"], expected_version)
    current = await collection.find_one({"_id": doc["_id"]}, {"outbox": 1, "version": 1})
    if current is None or current.get("version") != expected_version:
        raise ConcurrencyError(f"{doc['_id']} is not at version {expected_version}")
    pending = list(current.get("outbox") or []) + items
    body.update(version=new_version, outbox=pending, outbox_pending=bool(pending))
    await collection.replace_one({"_id": doc["_id"]}, body)
    return new_version, pending


class OutboxRelay:
    """Publishes what aggregates' outboxes hold.

    Finding pending outboxes by query is a full scan on FerretDB (it pushes no filter
    but `_id` down to SQLite), so the relay tracks what this process saved and has not
    yet published, and sweeps only those; the full scan runs at start-up (what a crashed
    predecessor left) and then rarely, as a safety net for other instances' crashes.
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        publisher: RawPublisher,
        *,
        full_scan_every: float = 300.0,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._full_scan_every = full_scan_every
        self._next_full_scan = 0.0  # monotonic time; 0 = at the first sweep
        # Saved by this process, not yet published: the version and its pending events,
        # so the flush that follows a save needs no read.
        self._unflushed: dict[Any, tuple[int, list[Document]] | None] = {}

    async def save(self, doc: Document, *, expected_version: int, emissions: list[Emission]) -> int:
        """save_with_outbox, remembering the pending events for the flush that follows."""
        version, pending = await _save(self._collection, doc, expected_version, emissions)
        if pending:
            self._unflushed[doc["_id"]] = (version, pending)
        return version

    async def flush(self, doc_id: Any) -> int:
        """Publish the pending events of one aggregate, then clear what was published."""
        known = self._unflushed.get(doc_id)
        if known is None:
            doc = await self._collection.find_one({"_id": doc_id}, {"outbox": 1, "version": 1})
            if not doc or not doc.get("outbox"):
                self._unflushed.pop(doc_id, None)
                return 0
            known = (doc["version"], doc["outbox"])
        version, items = known
        try:
            for item in items:
                await self._publisher.publish_raw(
                    Topic(item["topic"]), item.get("key"), item["value"].encode("utf-8")
                )
            # Clearing is a version transition like any write, so it can never wipe
            # events a concurrent writer appended; if it loses, the next flush
            # republishes, which consumers absorb by event id.
            with contextlib.suppress(ConcurrencyError):
                await claim_version(self._collection, doc_id, version)
                # The claim of an old version can be taken again once the aggregate has
                # moved on, so check it still is where we think before touching it.
                current = await self._collection.find_one({"_id": doc_id}, {"version": 1})
                if current is not None and current.get("version") == version:
                    await self._collection.update_one(
                        {"_id": doc_id},
                        {"$set": {"outbox": [], "outbox_pending": False, "version": version + 1}},
                    )
        except BaseException:
            self._unflushed[doc_id] = None  # retry by reading the document
            raise
        self._unflushed.pop(doc_id, None)
        return len(items)

    async def sweep(self, limit: int = 1000) -> int:
        published = 0
        for doc_id in list(self._unflushed):
            published += await self.flush(doc_id)
        now = time.monotonic()
        if now >= self._next_full_scan:
            self._next_full_scan = now + self._full_scan_every
            cursor = self._collection.find({"outbox_pending": True}, {"_id": 1}).limit(limit)
            async for doc in cursor:
                published += await self.flush(doc["_id"])
        return published


def periodic(
    work: Callable[[], Awaitable[int]], interval: float, what: str
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A background loop: run `work` every `interval` seconds until stopped; log what it did."""

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                done = await work()
                if done:
                    log.info("%s: %d", what, done)
            except Exception:  # keep going; the next round retries
                log.exception("%s failed", what)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    return loop


def relay_loop(
    sweep: Callable[[], Awaitable[int]], interval: float
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A background loop that publishes whatever a crash left in outboxes."""
    return periodic(sweep, interval, "outbox relay published pending event(s)")
