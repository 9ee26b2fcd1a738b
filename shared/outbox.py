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
import logging
from dataclasses import dataclass
from collections.abc import Awaitable, Callable
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
        return new_version
    current = await collection.find_one(
        {"_id": doc["_id"], "version": expected_version}, {"outbox": 1}
    )
    if current is None:
        raise ConcurrencyError(f"{doc['_id']} is not at version {expected_version}")
    pending = list(current.get("outbox") or []) + items
    body.update(version=new_version, outbox=pending, outbox_pending=bool(pending))
    result = await collection.replace_one({"_id": doc["_id"], "version": expected_version}, body)
    if result.matched_count == 0:
        raise ConcurrencyError(f"{doc['_id']} changed while saving")
    return new_version


class OutboxRelay:
    def __init__(self, collection: AsyncCollection[Document], publisher: RawPublisher) -> None:
        self._collection = collection
        self._publisher = publisher

    async def flush(self, doc_id: Any) -> int:
        """Publish the pending events of one aggregate, then clear what was published."""
        doc = await self._collection.find_one({"_id": doc_id}, {"outbox": 1, "version": 1})
        if not doc or not doc.get("outbox"):
            return 0
        for item in doc["outbox"]:
            await self._publisher.publish_raw(
                Topic(item["topic"]), item.get("key"), item["value"].encode("utf-8")
            )
        # Only clear if nothing was appended meanwhile; otherwise the next flush
        # republishes, which consumers absorb by event id.
        await self._collection.update_one(
            {"_id": doc_id, "version": doc["version"]},
            {"$set": {"outbox": [], "outbox_pending": False}},
        )
        return len(doc["outbox"])

    async def sweep(self, limit: int = 500) -> int:
        published = 0
        cursor = self._collection.find({"outbox_pending": True}, {"_id": 1}).limit(limit)
        async for doc in cursor:
            published += await self.flush(doc["_id"])
        return published


def relay_loop(sweep: Callable[[], Awaitable[int]], interval: float) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A background loop that publishes whatever a crash left in outboxes."""

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                swept = await sweep()
                if swept:
                    log.info("outbox relay published %d pending event(s)", swept)
            except Exception:  # keep relaying; the next sweep retries
                log.exception("outbox sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass

    return loop
