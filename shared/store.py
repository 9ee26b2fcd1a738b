"""The one aggregate store: every service keeps its aggregates through it.

An aggregate is one document, saved together with the events its change produced
(`outbox`) in one write, since a single-document write is the only atomic one without
transactions. The events are published afterwards (`flush`) and then cleared; a crash
in between leaves them in the document for the next flush or `sweep`, and consumers
absorb a second publication by event id.

Every write is a compare-and-set on `version`, and the way to do it is chosen once per
server (see docs/storage.md):
- MongoDB: a native filtered update, `{_id, version}`, whose match count tells.
- FerretDB v1: a filtered update is not atomic there, so each version step first claims
  `<id>#<version>` by a unique insert into `<collection>_claims`.
Every other filter names `_id` alone, the only one FerretDB's SQLite backend pushes down.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bson.errors import InvalidDocument
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from shared.errors import ConcurrencyError
from shared.mongo import Document, is_duplicate_key
from shared.outbox import Emission, RawPublisher
from shared.topics import Topic

log = logging.getLogger("ruam.store")

T = TypeVar("T")

# Fields the store owns in every aggregate document.
# `write_id` names each stored version, so a claim is of one version of one life of the
# aggregate (a deleted and re-created aggregate starts with fresh claims).
STORE_FIELDS = ("version", "write_id", "outbox", "outbox_pending")
CLAIM_TTL = timedelta(seconds=30)
# Errors after which a write surely did not happen (refused by the server, or by the
# driver before sending).
NOT_WRITTEN: tuple[type[BaseException], ...] = (OperationFailure, InvalidDocument)


def _new_write_id() -> str:
    return uuid.uuid4().hex[:16]


def claim_of(doc_id: Any, version: int, write_id: str | None) -> str:
    return f"{doc_id}#{version}#{write_id or ''}"


class Cas(enum.StrEnum):
    NATIVE = "native"  # MongoDB: update_one({_id, version}) is atomic
    CLAIMS = "claims"  # FerretDB v1: a unique insert is the only atomic conditional write


_detected: dict[int, Cas] = {}


async def detect_cas(db: AsyncDatabase[Document]) -> Cas:
    """Which compare-and-set the server behind `db` gives, asked once per client."""
    key = id(db.client)
    if key not in _detected:
        info = await db.client.admin.command("buildInfo")
        _detected[key] = Cas.CLAIMS if "ferretdbVersion" in info else Cas.NATIVE
        log.info("compare-and-set by %s (server %s)", _detected[key], info.get("version"))
    return _detected[key]


async def ensure_index(
    collection: AsyncCollection[Document], fields: Sequence[str], *, unique: bool = False
) -> None:
    """An ascending index on MongoDB. On FerretDB v1 only a unique one: its SQLite backend
    serves no query from a secondary index, so there it would only slow every write."""
    if not unique and await detect_cas(collection.database) is Cas.CLAIMS:
        return
    await collection.create_index([(f, ASCENDING) for f in fields], unique=unique)


@dataclass(frozen=True)
class Retry:
    """How a decision that lost a race is tried again: bounded, with jittered backoff."""

    attempts: int = 8
    base_seconds: float = 0.01
    cap_seconds: float = 0.4

    def delay(self, attempt: int) -> float:
        return float(
            min(self.cap_seconds, self.base_seconds * 2**attempt) * random.uniform(0.5, 1.5)
        )


ON_CONFLICT = Retry()


async def retry_on_conflict(attempt: Callable[[], Awaitable[T]], policy: Retry = ON_CONFLICT) -> T:
    """Run load -> decide -> save again while it loses the version race.

    The last ConcurrencyError propagates: HTTP answers it 503 + Retry-After, a consumer
    lets the message be redelivered.
    """
    for n in range(policy.attempts):
        try:
            return await attempt()
        except ConcurrencyError:
            if n == policy.attempts - 1:
                raise
            await asyncio.sleep(policy.delay(n))
    raise AssertionError("unreachable")  # pragma: no cover


Decision = tuple[Document, Sequence[Emission]] | None


async def change(
    store: AggregateStore,
    doc_id: Any,
    decide: Callable[[Document | None], Decision],
    *,
    policy: Retry = ON_CONFLICT,
) -> Document | None:
    """load -> decide -> save -> (retry on conflict) -> flush, for one aggregate.

    `decide` gets the stored document (None if there is none) and returns the new one
    with its events, or None when nothing is to change. Returns the stored document.
    """

    async def attempt() -> Document | None:
        current = await store.get(doc_id)
        decided = decide(current)
        if decided is None:
            return current
        doc, emissions = decided
        version = int(current.get("version", 0)) if current else 0
        doc = {**doc, "_id": doc_id}
        doc["version"] = await store.save(doc, expected_version=version, emissions=emissions)
        return doc

    result = await retry_on_conflict(attempt, policy)
    await store.flush(doc_id)
    return result


class AggregateStore:
    """get / save / flush / sweep / ensure_indexes for one collection of aggregates."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        publisher: RawPublisher | None,
        *,
        cas: Cas | None = None,
        after_write: Callable[[Document], Awaitable[None]] | None = None,
        full_scan_every: float = 3600.0,
    ) -> None:
        self.collection = collection
        self._claims = collection.database[f"{collection.name}_claims"]
        self._publisher = publisher
        self._cas = cas
        # A projection kept beside the aggregate (routing's case_index), written after
        # each save while this writer still holds the version.
        self._after_write = after_write
        # Ids whose outbox or projection may be unfinished, written before the aggregate
        # and removed once both are done: what a crashed predecessor left is read from
        # here, not by scanning the aggregates.
        self._pending = collection.database[f"{collection.name}_pending"]
        self._full_scan_every = full_scan_every
        self._next_full_scan = time.monotonic() + full_scan_every
        self._recovered = False
        # Saved here and not yet published, with the pending events, so the flush that
        # follows a save needs no read; None = read the document. Lost on a crash, when
        # the start-up sweep finds them instead.
        self._unflushed: dict[Any, tuple[int, str, list[Document]] | None] = {}
        self._flushing: set[Any] = set()

    async def cas(self) -> Cas:
        if self._cas is None:
            self._cas = await detect_cas(self.collection.database)
        return self._cas

    async def ensure_indexes(self, *keys: str | Sequence[str], unique: Iterable[str] = ()) -> None:
        """The sweep's index plus the given ones (a name, or a compound tuple of names)."""
        only_unique = set(unique)
        await ensure_index(self.collection, ["outbox_pending"])
        for key in keys:
            fields = [key] if isinstance(key, str) else list(key)
            is_unique = isinstance(key, str) and key in only_unique
            await ensure_index(self.collection, fields, unique=is_unique)

    async def get(self, doc_id: Any, projection: Document | None = None) -> Document | None:
        return await self.collection.find_one({"_id": doc_id}, projection or {"outbox": 0})

    async def save(
        self, doc: Document, *, expected_version: int, emissions: Sequence[Emission] = ()
    ) -> int:
        """Insert (expected_version 0) or replace iff still at expected_version.

        Returns the new version; raises ConcurrencyError when someone was first.
        """
        items = [e.to_item() for e in emissions]
        body = {k: v for k, v in doc.items() if k not in STORE_FIELDS}
        version = expected_version + 1
        tracked = bool(items) or self._after_write is not None
        if tracked:
            try:
                await self._pending.update_one(
                    {"_id": body["_id"]}, {"$setOnInsert": {"at": datetime.now(UTC)}}, upsert=True
                )
            except Exception as exc:
                if not is_duplicate_key(exc):  # a concurrent writer's upsert: as good as ours
                    raise
        if expected_version == 0:
            body.update(
                version=version, write_id=_new_write_id(), outbox=items, outbox_pending=bool(items)
            )
            try:
                await self.collection.insert_one(body)
            except Exception as exc:
                if is_duplicate_key(exc):
                    raise ConcurrencyError(f"{doc['_id']} already exists") from exc
                raise
            pending = items
        elif await self.cas() is Cas.NATIVE:
            pending = await self._replace_native(body, expected_version, items)
        else:
            pending = await self._replace_claimed(body, expected_version, items)
        if self._after_write is not None:
            await self._after_write({**body, "version": version, "outbox_pending": bool(pending)})
        if pending:
            self._unflushed[body["_id"]] = (version, body["write_id"], pending)
        elif tracked:
            await self._pending.delete_one({"_id": body["_id"]})
        return version

    async def _replace_native(
        self, body: Document, expected: int, items: list[Document]
    ) -> list[Document]:
        body["write_id"] = _new_write_id()
        update: Document = {"$set": {**body, "version": expected + 1}}
        if items:
            update["$set"]["outbox_pending"] = True
            update["$push"] = {"outbox": {"$each": items}}
        stored = await self.collection.find_one_and_update(
            {"_id": body["_id"], "version": expected},
            update,
            return_document=ReturnDocument.AFTER,
        )
        if stored is None:
            raise ConcurrencyError(f"{body['_id']} is not at version {expected}")
        return list(stored.get("outbox") or [])

    async def _replace_claimed(
        self, body: Document, expected: int, items: list[Document]
    ) -> list[Document]:
        doc_id = body["_id"]
        current = await self.collection.find_one(
            {"_id": doc_id}, {"outbox": 1, "version": 1, "write_id": 1}
        )
        if current is None or current.get("version") != expected:
            raise ConcurrencyError(f"{doc_id} is not at version {expected}")
        # Claimed after the read: nobody can have written since, or the claim would exist.
        claim_id = claim_of(doc_id, expected, current.get("write_id"))
        token, taken_over = await self.claim(claim_id)
        if taken_over:  # the dead holder may have written after our read
            again = await self.collection.find_one({"_id": doc_id}, {"version": 1, "write_id": 1})
            if again is None or again.get("write_id") != current.get("write_id"):
                raise ConcurrencyError(f"{doc_id} moved on")
        pending = list(current.get("outbox") or []) + items
        body.update(
            version=expected + 1,
            write_id=_new_write_id(),
            outbox=pending,
            outbox_pending=bool(pending),
        )
        try:
            await self.collection.replace_one({"_id": doc_id}, body)
        except NOT_WRITTEN:
            # The server or the driver refused the write: free the version for the next
            # writer now rather than after CLAIM_TTL. (After a lost connection the write
            # may have landed, so that claim waits for its TTL.)
            await asyncio.shield(self._release(claim_id, token))
            raise
        return pending

    async def claim(self, claim_id: str) -> tuple[str, bool]:
        """Become the one writer allowed to move an aggregate on from one version.

        Returns (token, taken_over). Claims are kept, so a claim that could be inserted
        means nobody ever moved the aggregate on from that version. A claim left by a
        writer that died mid-write is taken over after CLAIM_TTL: one taker wins a unique
        insert of its own, and a taker must check the version, since the dead writer may
        have written after all.
        """
        token = uuid.uuid4().hex
        if await self._insert_claim(claim_id, token):
            return token, False
        held = await self._claims.find_one({"_id": claim_id})
        if held is not None and datetime.now(UTC) - held["at"] < CLAIM_TTL:
            raise ConcurrencyError(f"{claim_id} is held by another writer")
        if held is not None:
            if not await self._insert_claim(f"{claim_id}#takeover#{held['by']}", token):
                raise ConcurrencyError(f"{claim_id} is being taken over by another writer")
            await self._claims.delete_one({"_id": claim_id})
        if await self._insert_claim(claim_id, token):
            return token, True
        raise ConcurrencyError(f"{claim_id} is held by another writer")

    async def _insert_claim(self, claim_id: str, token: str) -> bool:
        try:
            await self._claims.insert_one({"_id": claim_id, "at": datetime.now(UTC), "by": token})
        except asyncio.CancelledError:
            # Shutdown mid-claim: the insert may have landed; drop it if it is ours.
            await asyncio.shield(self._release(claim_id, token))
            raise
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            return False
        return True

    async def _release(self, claim_id: str, token: str) -> None:
        """Give a claim back, when the write it guarded surely did not happen."""
        with contextlib.suppress(Exception):
            held = await self._claims.find_one({"_id": claim_id})
            if held is not None and held.get("by") == token:
                await self._claims.delete_one({"_id": claim_id})

    async def flush(self, doc_id: Any) -> int:
        """Publish the pending events of one aggregate, then clear what was published.

        Clearing is a version step like any write, so it never wipes events a
        concurrent writer appended; if it loses, the next flush republishes, which
        consumers absorb by event id.
        """
        if doc_id in self._flushing:
            return 0  # a flush of it is under way here (the handler's, or the sweep's)
        self._flushing.add(doc_id)
        try:
            return await self._flush(doc_id)
        finally:
            self._flushing.discard(doc_id)

    async def _flush(self, doc_id: Any) -> int:
        known = entry = self._unflushed.get(doc_id)
        if known is None:
            doc = await self.collection.find_one(
                {"_id": doc_id}, {"outbox": 1, "version": 1, "write_id": 1}
            )
            if not doc or not doc.get("outbox"):
                if self._unflushed.get(doc_id) is entry:
                    self._unflushed.pop(doc_id, None)
                await self._pending.delete_one({"_id": doc_id})
                return 0
            known = (int(doc["version"]), doc.get("write_id") or "", list(doc["outbox"]))
        version, write_id, items = known
        try:
            for item in items:
                if self._publisher is None:
                    raise RuntimeError(f"{self.collection.name} has events but no publisher")
                await self._publisher.publish_raw(
                    Topic(item["topic"]), item.get("key"), item["value"].encode("utf-8")
                )
            with contextlib.suppress(ConcurrencyError):
                await self._clear(doc_id, version, write_id)
                # A writer that appended meanwhile flushes its own events; the hourly
                # full look catches the rare one that died before it could.
                await self._pending.delete_one({"_id": doc_id})
        except BaseException:
            self._unflushed[doc_id] = None  # retry by reading the document
            raise
        if self._unflushed.get(doc_id) is entry:
            # Not when a save came in meanwhile: its events are the next flush's.
            self._unflushed.pop(doc_id, None)
        return len(items)

    async def _clear(self, doc_id: Any, version: int, write_id: str) -> None:
        cleared = {
            "outbox": [],
            "outbox_pending": False,
            "version": version + 1,
            "write_id": _new_write_id(),
        }
        if await self.cas() is Cas.NATIVE:
            result = await self.collection.update_one(
                {"_id": doc_id, "version": version}, {"$set": cleared}
            )
            if result.matched_count == 0:
                raise ConcurrencyError(f"{doc_id} moved on")
            return
        _, taken_over = await self.claim(claim_of(doc_id, version, write_id))
        if taken_over:  # the dead holder may have written: check before clearing
            current = await self.collection.find_one({"_id": doc_id}, {"version": 1})
            if current is None or current.get("version") != version:
                raise ConcurrencyError(f"{doc_id} moved on")
        await self.collection.update_one({"_id": doc_id}, {"$set": cleared})

    async def recover(self) -> int:
        """What a predecessor left unfinished: project it again, publish its events."""
        ids = [d["_id"] async for d in self._pending.find({}, {"_id": 1})]
        for doc_id in ids:
            if self._after_write is not None:
                doc = await self.collection.find_one({"_id": doc_id}, {"outbox": 0})
                if doc is not None:
                    await self._after_write(doc)
            self._unflushed.setdefault(doc_id, None)
        self._recovered = True
        return len(ids)

    async def sweep(self, limit: int = 1000) -> int:
        """Flush what this process left unpublished, and what a predecessor left.

        The first sweep recovers from the pending list; a full look for pending outboxes
        (a scan on FerretDB) runs only hourly, as a safety net. One aggregate that fails
        is logged and skipped: the others still go out.
        """
        if not self._recovered:
            await self.recover()
        published = 0
        ids = list(self._unflushed)
        now = time.monotonic()
        if now >= self._next_full_scan:
            self._next_full_scan = now + self._full_scan_every
            cursor = self.collection.find({"outbox_pending": True}, {"_id": 1}).limit(limit)
            ids += [doc["_id"] async for doc in cursor if doc["_id"] not in self._unflushed]
        for doc_id in ids:
            try:
                published += await self.flush(doc_id)
            except Exception:
                log.exception("outbox of %s not flushed; retried at the next sweep", doc_id)
        return published
