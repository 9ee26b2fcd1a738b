"""The one aggregate store: every service keeps its aggregates through it.

An aggregate is one document, saved together with the events its change produced
(`outbox`) in one write, since a single-document write is the only atomic one without
transactions. The events are published afterwards (`flush`) and then cleared; a crash
in between leaves them in the document for the next flush or `sweep`, and consumers
absorb a second publication by event id.

Every write is a compare-and-set on `version`, and the way to do it is chosen once per
server (see docs/storage.md):
- MongoDB, and FerretDB as deploy/local builds it: a replacement filtered by
  `{_id, version}`, whose match count tells.
- FerretDB v1 as released: a filtered update is not atomic there, so each version step
  first claims `<id>#<version>` by a unique insert into `<collection>_claims`.
Every other filter names `_id` alone, the only one FerretDB's SQLite backend pushes down.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import bson
from bson.errors import InvalidDocument
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from shared.errors import ConcurrencyError
from shared.mongo import MAX_BATCH, BulkReader, BulkWriter, Document
from shared.ops import Backlog, age_seconds
from shared.outbox import Emission, RawPublisher
from shared.topics import Topic
from shared.tracing import current_traceparent

log = logging.getLogger("ruam.store")

T = TypeVar("T")

# Fields the store owns in every aggregate document.
# `write_id` names each stored version, so a claim is of one version of one life of the
# aggregate (a deleted and re-created aggregate starts with fresh claims).
# `life` names one life of the aggregate (it is new when the aggregate is created), so
# what this process remembers of a deleted aggregate is not taken for its successor's.
STORE_FIELDS = (
    "version",
    "write_id",
    "life",
    "outbox",
    "outbox_pending",
)  # the last: earlier layout
STATE_FIELDS = {"version": 1, "write_id": 1, "life": 1, "outbox": 1}
CLAIM_TTL = timedelta(seconds=30)
# How long a save's own caller has to flush it before the sweep does: a sweep that takes a
# live handler's events publishes them outside the handler's trace and races its flush.
FLUSH_GRACE_SECONDS = 5.0
MAX_TAKEOVER_STEPS = 20
# Errors after which a write surely did not happen (refused by the server, or by the
# driver before sending).
NOT_WRITTEN: tuple[type[BaseException], ...] = (OperationFailure, InvalidDocument)


# Set while a Kafka message of a subscription that opted in is handled (shared.kafka.subscribe):
# if this process dies before the handler returns, the message comes again, and the
# handler then flushes what its save left unpublished. Such a save needs no marker.
_REDELIVERED: ContextVar[bool] = ContextVar("ruam_redelivered", default=False)


@contextlib.contextmanager
def recovered_by_redelivery() -> Iterator[None]:
    """Saves made inside write no marker: the message being handled is their recovery."""
    token = _REDELIVERED.set(True)
    try:
        yield
    finally:
        _REDELIVERED.reset(token)


def _new_write_id() -> str:
    return uuid.uuid4().hex[:16]


def claim_of(doc_id: Any, version: int, write_id: str | None) -> str:
    return f"{doc_id}#{version}#{write_id or ''}"


class Stored(NamedTuple):
    """The store's fields of one stored version."""

    version: int
    write_id: str
    life: str
    outbox: list[Document]

    @classmethod
    def of(cls, doc: Document) -> Stored:
        return cls(
            int(doc.get("version", 0)),
            doc.get("write_id") or "",
            doc.get("life") or "",
            list(doc.get("outbox") or []),
        )


class Cas(enum.StrEnum):
    NATIVE = "native"  # replace_one({_id, version}) is atomic: MongoDB, our FerretDB build
    CLAIMS = "claims"  # FerretDB v1 as released: a unique insert is its only atomic one


class Server(NamedTuple):
    """What the code needs to know of the server behind a client."""

    # FerretDB serves no query from a secondary index, and its filtered updates are not
    # atomic (but for our build's replacement on a version: `cas`).
    ferretdb: bool
    cas: Cas


_servers: dict[int, Server] = {}


async def server_of(db: AsyncDatabase[Document]) -> Server:
    """Asked once per client, from `buildInfo`."""
    key = id(db.client)
    if key not in _servers:
        info = await db.client.admin.command("buildInfo")
        ferretdb = "ferretdbVersion" in info
        features = info.get("ferretdbFeatures") or {}
        native = not ferretdb or features.get("ruamConditionalReplace") is True
        _servers[key] = Server(ferretdb, Cas.NATIVE if native else Cas.CLAIMS)
        # A dead client's id may be given to the next one, which can be another server.
        weakref.finalize(db.client, _servers.pop, key, None)
        log.info("compare-and-set by %s (server %s)", _servers[key].cas, info.get("version"))
    return _servers[key]


async def detect_cas(db: AsyncDatabase[Document]) -> Cas:
    """Which compare-and-set the server behind `db` gives."""
    return (await server_of(db)).cas


async def ensure_index(
    collection: AsyncCollection[Document], fields: Sequence[str], *, unique: bool = False
) -> None:
    """An ascending index on MongoDB. On FerretDB v1 only a unique one: its SQLite backend
    serves no query from a secondary index, so there it would only slow every write."""
    if not unique and (await server_of(collection.database)).ferretdb:
        return
    await collection.create_index([(f, ASCENDING) for f in fields], unique=unique)


async def move_later(
    collection: AsyncCollection[Document], doc_id: Any, field: str, value: Any, also: Document
) -> bool:
    """Set `field` to `value`, and the fields of `also`, unless it is already as late (or
    missing): a deadline that only ever moves later. On MongoDB a filter on the field makes
    it atomic. FerretDB v1 answers that filter with a scan of the collection and is no more
    atomic for it (it reads, compares in Go, and writes by `_id`), so there the comparison is
    made here, between a read and a write by `_id`. True if it was moved."""
    changed = {"$set": {field: value, **also}}
    if not (await server_of(collection.database)).ferretdb:
        result = await collection.update_one({"_id": doc_id, field: {"$lt": value}}, changed)
        return bool(result.modified_count)
    doc = await collection.find_one({"_id": doc_id}, {field: 1})
    if doc is None or doc.get(field) is None or doc[field] >= value:
        return False
    await collection.update_one({"_id": doc_id}, changed)
    return True


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
    A change without events publishes nothing, so it skips the flush (and its read);
    anything an earlier writer left unpublished is the sweep's.

    Changes to one aggregate that come while one is being made in this process are made
    together in the next round: one load, their decisions one after the other in the order
    they came, one save. A hot aggregate (a total every event adds to) then costs one
    write per round, not one per change, and its writers here never race each other. A
    decision that raises fails only its own caller; a failed save fails the round's.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Document | None] = loop.create_future()
    waiting = store.rounds.get(doc_id)
    if waiting is not None:
        waiting.append((decide, done))  # a round is under way: join the next one
    else:
        store.rounds[doc_id] = [(decide, done)]
        task = loop.create_task(_rounds(store, doc_id, policy))
        store.round_tasks.add(task)
        task.add_done_callback(store.round_tasks.discard)
    return await done


Waiting = list[tuple[Callable[[Document | None], Decision], "asyncio.Future[Document | None]"]]


async def _rounds(store: AggregateStore, doc_id: Any, policy: Retry) -> None:
    """Make the waiting changes of one aggregate, a round at a time, until none wait."""
    try:
        while batch := [(d, f) for d, f in store.rounds.get(doc_id) or () if not f.done()]:
            store.rounds[doc_id] = []  # who comes now waits for the next round
            await _round(store, doc_id, batch, policy)
    finally:
        for _, f in store.rounds.pop(doc_id, ()):
            if not f.done():  # only when this task was cancelled (shutdown)
                f.cancel()


async def _round(store: AggregateStore, doc_id: Any, batch: Waiting, policy: Retry) -> None:
    failed: dict[int, Exception] = {}
    emitted = False

    def decide_all(current: Document | None) -> Decision:
        failed.clear()
        version = int(current.get("version", 0)) if current else 0
        doc, changed = current, False
        emissions: list[Emission] = []
        for n, (decide, _) in enumerate(batch):
            try:
                decided = decide(doc)
            except Exception as exc:
                failed[n] = exc
                continue
            if decided is not None:
                doc = {**decided[0], "_id": doc_id, "version": version}
                emissions += decided[1]
                changed = True
        return (doc, emissions) if changed and doc is not None else None

    async def attempt() -> Document | None:
        nonlocal emitted
        current = await store.get(doc_id)
        decided = decide_all(current)
        if decided is None:
            return current
        doc, emissions = decided
        version = int(current.get("version", 0)) if current else 0
        doc = {**doc, "_id": doc_id}
        # A round may hold changes of callers that no redelivery recovers (HTTP, timers).
        doc["version"] = await store.save(
            doc, expected_version=version, emissions=emissions, marked=True
        )
        emitted = bool(emissions)
        return doc

    try:
        result = await retry_on_conflict(attempt, policy)
        if emitted:
            await store.flush(doc_id)
    except asyncio.CancelledError:
        for _, f in batch:
            f.cancel()
        raise
    except Exception as exc:
        for _, f in batch:
            if not f.done():
                f.set_exception(exc)
        return
    for n, (_, f) in enumerate(batch):
        if f.done():
            continue  # its caller gave up waiting (cancelled)
        if n in failed:
            f.set_exception(failed[n])
        else:
            f.set_result(dict(result) if result is not None else None)


class AggregateStore:
    """get / save / flush / sweep / ensure_indexes for one collection of aggregates."""

    _live: ClassVar[weakref.WeakSet[AggregateStore]] = weakref.WeakSet()

    @classmethod
    def live(cls) -> list[AggregateStore]:
        """The stores of this process that publish events: whose backlog ops reports."""
        return [s for s in cls._live if s._publisher is not None]

    def __init__(
        self,
        collection: AsyncCollection[Document],
        publisher: RawPublisher | None,
        *,
        cas: Cas | None = None,
        after_write: Callable[[Document], Awaitable[None]] | None = None,
        look_every: float = 60.0,
        remember: int = 0,
    ) -> None:
        self.collection = collection
        self._claims = collection.database[f"{collection.name}_claims"]
        self._publisher = publisher
        self._cas = cas
        # A projection kept beside the aggregate (routing's case_index), written after
        # each save while this writer still holds the version.
        self._after_write = after_write
        # One marker per version whose events (or projection) may be unfinished, written
        # before the aggregate and deleted once they are out: what a crashed writer left
        # is read from this small collection, never by scanning the aggregates.
        self._markers = collection.database[f"{collection.name}_pending"]
        # Concurrent writers' inserts and marker deletes go out together (group commit).
        self._inserts = BulkWriter(collection)
        self._size_requests()
        self._claim_inserts = BulkWriter(self._claims)
        self._marker_writes = BulkWriter(self._markers)
        # ...and so do concurrent readers' finds by id.
        self._reads = BulkReader(collection)
        self._state_reads = BulkReader(collection, STATE_FIELDS)
        self._marker_reads = BulkReader(self._markers, {"_id": 1})
        # `change`'s rounds: the changes waiting per aggregate, and the tasks making them.
        self.rounds: dict[Any, Waiting] = {}
        self.round_tasks: set[asyncio.Task[None]] = set()
        self._look_every = look_every
        self._next_look = time.monotonic() + look_every
        self._recovered = False
        self._left: dict[Any, set[int | None]] = {}
        # Saved here and not yet published, so the flush that follows a save needs no
        # read; None: a flush failed, read the document and its markers again. Lost on a
        # crash, when the markers tell instead.
        self._unflushed: dict[Any, Stored | None] = {}
        self._saved_at: dict[Any, float] = {}  # when each of those was saved (monotonic)
        self._flushing: set[Any] = set()
        # What this process knows without a read: the store fields of the versions it
        # last read, and up to which version of which life each aggregate's events are out.
        self._seen: Lru[Stored] = Lru(10_000)
        self._published: Lru[tuple[str, int]] = Lru(50_000)
        # The last `remember` documents this store wrote, as BSON (a copy nobody can change):
        # read again from here instead of the server. If another writer moved one on since,
        # the save built on it loses the version race and its retry reads the server.
        self._written: Lru[bytes] | None = Lru(remember) if remember else None
        AggregateStore._live.add(self)

    async def cas(self) -> Cas:
        if self._cas is None:
            self._cas = await detect_cas(self.collection.database)
            self._size_requests()
        return self._cas

    def _size_requests(self) -> None:
        # A server that makes a replacement on a version atomic writes it without a query
        # (MongoDB; our FerretDB build: deploy/local's replace-by-id patch comes with it).
        if self._cas is Cas.NATIVE:
            self._inserts.replaces_per_request = MAX_BATCH

    async def ensure_indexes(self, *keys: str | Sequence[str], unique: Iterable[str] = ()) -> None:
        """The given indexes (a name, or a compound tuple of names)."""
        only_unique = set(unique)
        for key in keys:
            fields = [key] if isinstance(key, str) else list(key)
            is_unique = isinstance(key, str) and key in only_unique
            await ensure_index(self.collection, fields, unique=is_unique)

    async def get(self, doc_id: Any, projection: Document | None = None) -> Document | None:
        if projection is not None:
            return await self.collection.find_one({"_id": doc_id}, projection)
        kept = self._written.get(doc_id) if self._written is not None else None
        doc: Document | None
        if kept is not None:
            doc = bson.decode(kept, codec_options=self.collection.codec_options)
        else:
            doc = await self._reads.get(doc_id)
        if doc is None:
            return None
        self._seen.put(doc_id, Stored.of(doc))
        doc.pop("outbox", None)
        return doc

    async def save(
        self,
        doc: Document,
        *,
        expected_version: int,
        emissions: Sequence[Emission] = (),
        marked: bool | None = None,
    ) -> int:
        """Insert (expected_version 0) or replace iff still at expected_version.

        A version with events gets a marker first, unless it is saved while handling a
        message that is redelivered if this process dies (`recovered_by_redelivery`;
        `marked` overrides): its events are then stored flagged `unmarked`, and whoever
        finds them without knowing they went out publishes them again.
        Returns the new version; raises ConcurrencyError when someone was first.
        """
        doc_id = doc["_id"]
        version = expected_version + 1
        if marked is None:
            marked = not _REDELIVERED.get()
        marked = marked or not emissions  # without events, nothing would carry the flag
        flag: Document = {} if marked else {"unmarked": True}
        if emissions and (traceparent := current_traceparent()) is not None:
            flag["trace"] = traceparent
        items = [{**e.to_item(), "v": version, **flag} for e in emissions]
        body = {k: v for k, v in doc.items() if k not in STORE_FIELDS}
        tracked = marked and (bool(items) or self._after_write is not None)
        if self._written is not None:
            self._written.pop(doc_id)  # until this write is known to have landed
        if tracked:
            await self._mark(doc_id, version)
        seen = self._seen.pop(doc_id)
        if expected_version == 0:
            life = _new_write_id()
            body.update(version=version, write_id=_new_write_id(), life=life, outbox=items)
            if not await self._inserts.insert(body):
                raise ConcurrencyError(f"{doc_id} already exists")
            pending = items
        else:
            if seen is None or seen.version != expected_version:
                seen = await self._state(doc_id)
                if seen is None or seen.version != expected_version:
                    raise ConcurrencyError(f"{doc_id} is not at version {expected_version}")
            life = seen.life
            pending = await self._unpublished(doc_id, seen) + items
            body.update(version=version, write_id=_new_write_id(), life=life, outbox=pending)
            if await self.cas() is Cas.NATIVE:
                expected = {"version": expected_version}
                if not await self._inserts.replace_if(body, expected, tag="write_id"):
                    raise ConcurrencyError(f"{doc_id} is not at version {expected_version}")
            else:
                await self._replace_claimed(body, expected_version, seen.write_id)
        if self._written is not None:
            self._written.put(
                doc_id, bson.encode(body, codec_options=self.collection.codec_options)
            )
        if self._after_write is not None:
            await self._after_write(body)
        if pending:
            self._unflushed[doc_id] = Stored(version, body["write_id"], life, pending)
            self._saved_at[doc_id] = time.monotonic()
        elif tracked:
            await self._unmark(doc_id, version)
        return version

    async def backlog(self) -> Backlog:
        """How many stored versions wait for their events to go out, and since when: read
        from the markers, which are only those in flight or left behind."""
        count, oldest = 0, None
        async for marker in self._markers.find({}, {"at": 1}):
            count += 1
            at = marker.get("at")
            if at is not None and (oldest is None or at < oldest):
                oldest = at
        return Backlog(count, age_seconds(oldest))

    async def _state(self, doc_id: Any) -> Stored | None:
        doc = await self._state_reads.get(doc_id)
        return None if doc is None else Stored.of(doc)

    async def _unpublished(self, doc_id: Any, stored: Stored) -> list[Document]:
        """The stored events still to go out: flushing does not write the aggregate, so
        its outbox keeps the last version's events after they are published."""
        if not stored.outbox:
            return []
        in_flight = self._unflushed.get(doc_id)
        if in_flight is not None and in_flight.life != stored.life:
            in_flight = None
        known = self._published.get(doc_id)
        out_to = known[1] if known is not None and known[0] == stored.life else 0
        unmarked = {item.get("v") for item in stored.outbox if item.get("unmarked")}
        keep: dict[Any, bool] = {}
        for v in {item.get("v") for item in stored.outbox}:
            if in_flight is not None and v is not None and v <= in_flight.version:
                keep[v] = True
            elif v is not None and v <= out_to:
                keep[v] = False
            elif v in unmarked:
                keep[v] = True  # nothing says they went out: again, to be sure
            else:
                keep[v] = await self._marked(doc_id, v)
        return [item for item in stored.outbox if keep[item.get("v")]]

    async def _replace_claimed(self, body: Document, expected: int, write_id: str) -> None:
        doc_id = body["_id"]
        # Claimed from the version read: if anyone moved it on, they hold this claim.
        claim_id = claim_of(doc_id, expected, write_id)
        token, taken_over = await self.claim(claim_id)
        if taken_over:  # the dead holder may have written after our read
            again = await self.collection.find_one({"_id": doc_id}, {"version": 1, "write_id": 1})
            if again is None or (again.get("write_id") or "") != write_id:
                raise ConcurrencyError(f"{doc_id} moved on")
        try:
            await self._inserts.replace(body)
        except NOT_WRITTEN:
            # The server or the driver refused the write: free the version for the next
            # writer now rather than after CLAIM_TTL. (After a lost connection the write
            # may have landed, so that claim waits for its TTL.)
            await asyncio.shield(self._release(claim_id, token))
            raise

    # -- markers ------------------------------------------------------------------------

    def _marker_id(self, doc_id: Any, version: int | None) -> Any:
        # A marker of the earlier layout (one per aggregate) has the aggregate's id.
        return doc_id if version is None else f"{doc_id}#{version}"

    async def _mark(self, doc_id: Any, version: int) -> None:
        marker = {"_id": self._marker_id(doc_id, version), "doc": doc_id, "v": version}
        # False: a concurrent writer's marker, as good as ours.
        await self._marker_writes.insert({**marker, "at": datetime.now(UTC)})

    async def _marked(self, doc_id: Any, version: int | None) -> bool:
        return await self._marker_reads.get(self._marker_id(doc_id, version)) is not None

    async def _unmark(self, doc_id: Any, version: int | None) -> None:
        await self._marker_writes.delete(self._marker_id(doc_id, version))

    # -- claims -------------------------------------------------------------------------
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
            await self._take_over(claim_id, held["by"], token)
            await self._claims.delete_one({"_id": claim_id})
        if await self._insert_claim(claim_id, token):
            return token, True
        raise ConcurrencyError(f"{claim_id} is held by another writer")

    async def _take_over(self, claim_id: str, dead: str, token: str) -> None:
        """Win the right to replace a dead holder's claim: one taker wins each step by a
        unique insert, and a step whose taker died in turn is itself taken over after
        CLAIM_TTL by the next step, so no death leaves the aggregate locked for good."""
        for step in range(MAX_TAKEOVER_STEPS):
            step_id = f"{claim_id}#takeover#{dead}#{step}"
            if await self._insert_claim(step_id, token):
                return
            taker = await self._claims.find_one({"_id": step_id})
            if taker is not None and datetime.now(UTC) - taker["at"] < CLAIM_TTL:
                raise ConcurrencyError(f"{claim_id} is being taken over by another writer")
        raise ConcurrencyError(f"{claim_id}: {MAX_TAKEOVER_STEPS} takers died taking it over")

    async def _insert_claim(self, claim_id: str, token: str) -> bool:
        try:
            return await self._claim_inserts.insert(
                {"_id": claim_id, "at": datetime.now(UTC), "by": token}
            )
        except asyncio.CancelledError:
            # Shutdown mid-claim: the insert may have landed; drop it if it is ours.
            await asyncio.shield(self._release(claim_id, token))
            raise

    async def _release(self, claim_id: str, token: str) -> None:
        """Give a claim back, when the write it guarded surely did not happen."""
        with contextlib.suppress(Exception):
            held = await self._claims.find_one({"_id": claim_id})
            if held is not None and held.get("by") == token:
                await self._claims.delete_one({"_id": claim_id})

    async def flush(self, doc_id: Any) -> int:
        """Publish the pending events of one aggregate, then drop their markers.

        The aggregate itself is not written: its outbox keeps the events until the next
        save leaves them out, and a second publication (after a crash, or by a flush
        that raced a save) is absorbed by consumers through the event id.
        """
        return await self._flush(doc_id, None)

    async def _flush(self, doc_id: Any, markers: set[int | None] | None) -> int:
        if doc_id in self._flushing:
            return 0  # a flush of it is under way here (the handler's, or the sweep's)
        self._flushing.add(doc_id)
        try:
            return await self._publish(doc_id, markers)
        finally:
            self._flushing.discard(doc_id)

    async def _publish(self, doc_id: Any, markers: set[int | None] | None) -> int:
        entry = self._unflushed.get(doc_id)
        if entry is not None:
            state: Stored | None = entry
            items = entry.outbox
        else:
            state = await self._state(doc_id)
            stored = state.outbox if state else []
            if state is None:
                items = []
            elif markers is None:  # asked by id: what is still marked of what is stored
                items = await self._unpublished(doc_id, state)
            elif None in markers:  # a marker of the earlier layout: all that is stored
                items = stored
            else:
                items = [item for item in stored if item.get("v") in markers]
        version = state.version if state else 0
        versions: set[int | None] = {item.get("v") for item in items} | (markers or set())
        unmarked = {item.get("v") for item in items if item.get("unmarked")}
        try:
            if unmarked and entry is None and self._after_write is not None:
                # A redelivery after a crash, maybe between the save and its projection.
                doc = await self.collection.find_one({"_id": doc_id}, {"outbox": 0})
                if doc is not None:
                    await self._after_write(doc)
            if items:
                if self._publisher is None:
                    raise RuntimeError(f"{self.collection.name} has events but no publisher")
                for parent, run in itertools.groupby(items, lambda item: item.get("trace")):
                    # Each run under the trace that decided it, one after the other: the
                    # order within a key holds.
                    await self._publisher.publish_all(
                        [
                            (Topic(item["topic"]), item.get("key"), item["value"].encode("utf-8"))
                            for item in run
                        ],
                        parent=parent,
                    )
            for v in versions - unmarked:
                if v is None or v <= version:
                    await self._unmark(doc_id, v)
        except BaseException:
            if self._unflushed.get(doc_id) is entry:
                self._unflushed[doc_id] = None  # the next sweep reads it again
            raise
        if state is not None and (entry is not None or items):
            known = self._published.get(doc_id)
            if known is not None and known[0] == state.life:
                version = max(version, known[1])
            self._published.put(doc_id, (state.life, version))
        if self._unflushed.get(doc_id) is entry:
            # Not when a save came in meanwhile: its events are the next flush's.
            self._unflushed.pop(doc_id, None)
            self._saved_at.pop(doc_id, None)
        return len(items)

    async def recover(self) -> int:
        """What a predecessor left unfinished: project it again, publish its events."""
        left = await self._left_behind(older_than=None)
        for doc_id in left:
            if self._after_write is not None:
                doc = await self.collection.find_one({"_id": doc_id}, {"outbox": 0})
                if doc is not None:
                    await self._after_write(doc)
        self._recovered = True
        self._left = left
        return len(left)

    async def _left_behind(self, older_than: timedelta | None) -> dict[Any, set[int | None]]:
        """The marked versions, by aggregate: all of them, or those older than a writer
        takes (another live writer's are its own business)."""
        query: Document = {}
        if older_than is not None:
            query = {"at": {"$lt": datetime.now(UTC) - older_than}}
        left: dict[Any, set[int | None]] = {}
        async for marker in self._markers.find(query):
            doc_id = marker.get("doc", marker["_id"])
            left.setdefault(doc_id, set()).add(marker.get("v"))
        return left

    async def sweep(self) -> int:
        """Flush what this process left unpublished, and what others left behind.

        The first sweep recovers from the markers; then once a minute the markers older
        than a claim's lifetime are looked at, the safety net for a writer that died.
        One aggregate that fails is logged and skipped: the others still go out.
        """
        if not self._recovered:
            await self.recover()
        # A flush that failed at once; a save whose caller has not flushed it in time.
        late = time.monotonic() - FLUSH_GRACE_SECONDS
        todo: dict[Any, set[int | None] | None] = {
            doc_id: None
            for doc_id, entry in self._unflushed.items()
            if entry is None or self._saved_at.get(doc_id, 0.0) <= late
        }
        todo.update(self._left)
        self._left = {}
        aged: set[Any] = set()
        now = time.monotonic()
        if now >= self._next_look:
            self._next_look = now + self._look_every
            for doc_id, marked in (await self._left_behind(older_than=CLAIM_TTL)).items():
                if doc_id not in self._unflushed:
                    todo[doc_id] = marked
                    aged.add(doc_id)
        published = 0
        for doc_id, versions in todo.items():
            try:
                published += await self._flush(doc_id, versions)
                if versions and doc_id in aged:
                    # Marked versions never written, by a writer that died (a live one
                    # would have written within a claim's lifetime).
                    await self._drop_orphans(doc_id, versions)
            except Exception:
                log.exception("outbox of %s not flushed; retried at the next sweep", doc_id)
        return published

    async def _drop_orphans(self, doc_id: Any, versions: set[int | None]) -> None:
        state = await self._state(doc_id)
        version = state[0] if state else 0
        for v in versions:
            if v is not None and v > version:
                await self._unmark(doc_id, v)


V = TypeVar("V")


class Lru(Generic[V]):
    """A bounded map that forgets the least recently used: knowledge that saves a read,
    never knowledge needed for correctness."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Any, V] = OrderedDict()

    def get(self, key: Any) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Any, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def pop(self, key: Any) -> V | None:
        return self._items.pop(key, None)
