"""MongoDB access through PyMongo's AsyncMongoClient (the successor of motor).

The same code runs on FerretDB (SQLite backend) locally and on MongoDB in
production, so it keeps to what both support: no transactions, no change streams,
$group with $sum/$count only, money as integer satang, no TTL indexes.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, TypeVar, cast

from bson.errors import InvalidDocument
from prometheus_client import CollectorRegistry, Counter
from pymongo import AsyncMongoClient, ReplaceOne, ReturnDocument, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, WriteError

from shared.errors import WriteUncertain
from shared.ops import Labelled

Document = dict[str, Any]
T = TypeVar("T")

# The commands our code sends; anything else is counted as "other" (fixed label set).
COMMANDS = frozenset(
    {"find", "insert", "update", "delete", "findAndModify", "aggregate", "count", "getMore"}
)


# Commands whose filter says which documents: one that names anything but `_id` is a scan
# on FerretDB v1's SQLite backend (docs/storage.md), whatever indexes there are.
FILTERS = {"find": "filter", "count": "query", "findAndModify": "query"}


def by_id(command: Mapping[str, Any], name: str) -> bool:
    """Whether a command reads or changes documents by `_id` (served by the index on
    MongoDB and on our FerretDB build), not by a filter on anything else (a scan there)."""
    if name == "aggregate":
        first = (command.get("pipeline") or [{}])[0]
        query = first.get("$match") if isinstance(first, dict) else None
        return isinstance(query, dict) and set(query) == {"_id"}
    key = FILTERS.get(name)
    if key is None:  # an update's or delete's filters are in its statements
        statements = command.get("updates") or command.get("deletes") or []
        return all(isinstance(s, dict) and _statement_by_id(s) for s in statements)
    query = command.get(key)
    return isinstance(query, dict) and set(query) == {"_id"}


def _statement_by_id(statement: Mapping[str, Any]) -> bool:
    """By `_id` alone, or a replacement on `_id` and one integer (the store's compare-and-
    set, which our FerretDB build writes by the index too)."""
    query = statement.get("q") or {}
    if set(query) == {"_id"}:
        return True
    update = statement.get("u")
    replacement = isinstance(update, Mapping) and not any(k.startswith("$") for k in update)
    others = [v for k, v in query.items() if k != "_id"]
    return (
        replacement
        and "_id" in query
        and len(others) == 1
        and isinstance(others[0], int)
        and not isinstance(others[0], bool)
    )


class OperationCounter(monitoring.CommandListener):
    """Database commands by name: what `make bench` divides by cases to get ops per case;
    how long they took, and which read or changed documents by a filter on anything but
    `_id` (what an operator looks at first when FerretDB's CPU climbs)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Labelled(
            Counter(
                "ruam_db_operations_total",
                "Database commands sent, by command and collection",
                ["command", "collection"],
                registry=registry,
            )
        )
        self.seconds = Labelled(
            Counter(
                "ruam_db_operation_seconds_total",
                "Time from sending a database command to its answer, summed, by command and"
                " collection",
                ["command", "collection"],
                registry=registry,
            )
        )
        self.scans = Labelled(
            Counter(
                "ruam_db_filtered_operations_total",
                "Database commands whose filter names anything but _id (a scan on FerretDB v1),"
                " by command and collection",
                ["command", "collection"],
                registry=registry,
            )
        )
        self._sent: dict[int, tuple[str, str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name not in COMMANDS:
            self.total.labels("other", "").inc()
            return
        # The collection names are the code's own, so the label set stays fixed.
        target = event.command.get(name)
        collection = target if isinstance(target, str) else ""
        self.total.labels(name, collection).inc()
        if name != "insert" and name != "getMore" and not by_id(event.command, name):
            self.scans.labels(name, collection).inc()
        self._sent[event.request_id] = (name, collection)

    def _answered(self, request_id: int, micros: float) -> None:
        sent = self._sent.pop(request_id, None)
        if sent is not None:
            self.seconds.labels(*sent).inc(micros / 1e6)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._answered(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._answered(event.request_id, event.duration_micros)


# FerretDB v1 hangs for good once a hundred update statements are under way at once: each
# holds one of its hundred SQLite connections for its query, and an update command holds
# every statement's until the command ends, while each waits for another connection to
# write in (internal/handler/msg_update.go; docs/storage.md). So few requests per service,
# and few replaces per request, unless the server is known to replace by `_id` without a
# query (`BulkWriter.replaces_per_request`).
MAX_POOL_SIZE = 10
MAX_REPLACES = 4
# Documents per request of group commit.
MAX_BATCH = 500


def create_client(
    url: str,
    *,
    app_name: str,
    registry: CollectorRegistry | None = None,
    max_pool_size: int = MAX_POOL_SIZE,
) -> AsyncMongoClient[Document]:
    # tz_aware so datetimes come back as UTC-aware values, like the ones we store.
    return AsyncMongoClient(
        url,
        appname=app_name,
        maxPoolSize=max_pool_size,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        retryWrites=False,  # FerretDB v1 does not support retryable writes
        event_listeners=[OperationCounter(registry)] if registry is not None else [],
    )


async def ping(db: AsyncDatabase[Document]) -> bool:
    try:
        await db.command("ping")
    except Exception:  # any failure means "not healthy"; /healthz reports it
        return False
    return True


async def once(db: AsyncDatabase[Document], name: str, work: Callable[[], Awaitable[None]]) -> bool:
    """Run `work` unless this database's `migrations` collection says `name` was done; then
    say so. For the one-time upgrades of stored data at start (a scan then, never again).
    `work` must be safe to run twice: two replicas starting together may both run it."""
    migrations = db["migrations"]
    if await migrations.find_one({"_id": name}) is not None:
        return False
    await work()
    await migrations.update_one({"_id": name}, {"$set": {"done": True}}, upsert=True)
    return True


def is_duplicate_key(exc: BaseException) -> bool:
    from pymongo.errors import BulkWriteError, DuplicateKeyError

    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return all(e.get("code") == 11000 for e in exc.details.get("writeErrors", []))
    return False


class BulkWriter:
    """Inserts and deletes by `_id` into one collection, from many concurrent writers, in
    as few requests as there are writers waiting ("group commit").

    Each caller awaits its own outcome, as with insert_one/delete_one: the first caller's
    request goes out at once; callers that come while it is in flight are sent together in
    the next one. So a lone writer waits no longer than before, and a service handling many
    messages at once sends one request where it sent dozens (a round trip costs far more
    than a document, on FerretDB as on MongoDB). Inserts are unordered: a duplicate `_id`
    fails that document alone, and its caller only.
    """

    def __init__(self, collection: AsyncCollection[Document], max_batch: int = MAX_BATCH) -> None:
        self.collection = collection
        self._max = max_batch
        # Raised by whoever learns that the server writes a replacement by `_id` without
        # querying first (MongoDB; FerretDB as deploy/local builds it): then a request of
        # many replaces holds no connection per statement, and costs the driver and the
        # server a fraction of one request each.
        self.replaces_per_request = MAX_REPLACES
        self._inserts: list[tuple[Document, asyncio.Future[bool]]] = []
        self._deletes: list[tuple[Any, asyncio.Future[bool]]] = []
        self._replaces: list[tuple[Document, asyncio.Future[bool]]] = []
        self._swaps: list[Swap] = []
        self._running: asyncio.Task[None] | None = None

    async def insert(self, doc: Document) -> bool:
        """True if inserted, False if a document with its `_id` exists; other errors raise."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inserts.append((doc, future))
        self._start()
        return await _outcome(future)

    async def delete(self, doc_id: Any) -> None:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._deletes.append((doc_id, future))
        self._start()
        await _outcome(future)

    async def replace(self, doc: Document) -> None:
        """Replace the document with `doc`'s `_id` by `doc`, unconditionally: for a writer
        that already holds the right to (the store's claim). Errors raise."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._replaces.append((doc, future))
        self._start()
        await _outcome(future)

    async def replace_if(self, doc: Document, expected: Document, tag: str) -> bool:
        """Replace the document with `doc`'s `_id` by `doc` iff it still holds `expected`:
        a compare-and-set, atomic on MongoDB and on our FerretDB build. True if it did.

        `tag` names a field whose value is new in every write: when only some of a request's
        replacements matched, it tells which by one read. If one that matched was already
        written over by then, those that cannot be told apart raise WriteUncertain.
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._swaps.append(Swap(doc, {**expected, "_id": doc["_id"]}, tag, future))
        self._start()
        return await _outcome(future)

    def _start(self) -> None:
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        most = min(self._max, self.replaces_per_request)
        while self._inserts or self._deletes or self._replaces or self._swaps:
            if self._inserts:
                batch, self._inserts = self._inserts[: self._max], self._inserts[self._max :]
                await self._insert_batch(batch)
            if self._replaces:
                batch, self._replaces = self._replaces[:most], self._replaces[most:]
                await self._replace_batch(batch)
            if self._swaps:
                swaps, self._swaps = self._swaps[:most], self._swaps[most:]
                await self._swap_batch(swaps)
            if self._deletes:
                gone, self._deletes = self._deletes[: self._max], self._deletes[self._max :]
                await self._delete_batch(gone)

    async def _insert_batch(self, batch: list[tuple[Document, asyncio.Future[bool]]]) -> None:
        failed: dict[int, Document] = {}
        try:
            await self.collection.insert_many([doc for doc, _ in batch], ordered=False)
        except BulkWriteError as exc:
            failed = {e["index"]: e for e in exc.details.get("writeErrors", [])}
        except Exception as exc:  # nothing is known of any of them: each caller decides
            for _, future in batch:
                _settle(future, exc=exc)
            return
        _settle_each(batch, failed, duplicate=False)

    async def _replace_batch(self, batch: list[tuple[Document, asyncio.Future[bool]]]) -> None:
        try:
            _, failed = await self._send_replaces([({"_id": doc["_id"]}, doc) for doc, _ in batch])
        except Exception as exc:
            await self._refused(batch, exc, self._replace_batch)
            return
        _settle_each(batch, failed, duplicate=None)

    async def _send_replaces(
        self, replaces: list[tuple[Document, Document]]
    ) -> tuple[int, dict[int, Document]]:
        """(filter, document) pairs in one unordered request (one `replace_one` for one):
        how many matched, and the statements the server refused, by index."""
        try:
            if len(replaces) == 1:
                query, doc = replaces[0]
                return (await self.collection.replace_one(query, doc)).matched_count, {}
            result = await self.collection.bulk_write(
                [ReplaceOne(query, doc) for query, doc in replaces], ordered=False
            )
            return result.matched_count, {}
        except BulkWriteError as exc:
            failed = {e["index"]: e for e in exc.details.get("writeErrors", [])}
            return int(exc.details.get("nMatched", 0)), failed

    async def _refused(
        self,
        batch: list[Any],
        exc: Exception,
        again: Callable[[list[Any]], Awaitable[None]],
    ) -> None:
        """A request of replacements that failed as a whole; each item's future is its last
        member. The driver refuses a document it cannot encode before sending any: then
        each goes again on its own, so that only the refused one's writer hears of it.
        Otherwise nothing is known of any of them: each caller decides."""
        if isinstance(exc, InvalidDocument) and len(batch) > 1:
            for one in batch:
                await again([one])
            return
        for item in batch:
            _settle(item[-1], exc=exc)

    async def _swap_batch(self, batch: list[Swap]) -> None:
        try:
            matched, failed = await self._send_replaces([(s.expected, s.doc) for s in batch])
        except Exception as exc:
            await self._refused(batch, exc, self._swap_batch)
            return
        for i, error in failed.items():
            _settle(
                batch[i].outcome, exc=WriteError(error.get("errmsg", ""), error.get("code"), error)
            )
        sent = [s for i, s in enumerate(batch) if i not in failed]
        if matched in (0, len(sent)):
            for swap in sent:
                _settle(swap.outcome, matched > 0)
            return
        try:
            ids = list({s.doc["_id"]: None for s in sent})
            tags = {s.tag for s in sent}
            stored = {
                d["_id"]: d
                async for d in self.collection.find({"_id": {"$in": ids}}, dict.fromkeys(tags, 1))
            }
        except Exception as exc:
            for swap in sent:
                _settle(swap.outcome, exc=WriteUncertain(f"{swap.doc['_id']}: {exc}"))
            return
        landed = {
            id(s) for s in sent if stored.get(s.doc["_id"], {}).get(s.tag, ...) == s.doc[s.tag]
        }
        for swap in sent:
            if id(swap) in landed:
                _settle(swap.outcome, True)
            elif len(landed) == matched:
                _settle(swap.outcome, False)
            else:  # it matched and was written over since, or it never matched
                _settle(swap.outcome, exc=WriteUncertain(f"{swap.doc['_id']} may be written"))

    async def _delete_batch(self, batch: list[tuple[Any, asyncio.Future[bool]]]) -> None:
        try:
            ids = list({doc_id: None for doc_id, _ in batch})
            if len(ids) == 1:
                await self.collection.delete_one({"_id": ids[0]})
            else:
                await self.collection.delete_many({"_id": {"$in": ids}})
        except Exception as exc:
            for _, future in batch:
                _settle(future, exc=exc)
            return
        for _, future in batch:
            _settle(future, True)


class BulkReader:
    """Finds by `_id` in one collection, from many concurrent readers, in as few requests as
    there are readers waiting: the reading side of BulkWriter.

    The first caller's request goes out at once; callers that come while it is in flight
    share the next one, `{_id: {$in: [...]}}`, so every read is sent after its caller asked
    (a write that finished before the read was asked for is seen). MongoDB serves `$in` on
    `_id` from its index, and so does our FerretDB build (deploy/local's patch pushes it down
    to SQLite). Each caller gets a document of its own, or None.
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        projection: Document | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.collection = collection
        self._projection = projection
        self._max = max_batch
        self._waiting: list[tuple[Any, asyncio.Future[Document | None]]] = []
        self._running: asyncio.Task[None] | None = None

    async def get(self, doc_id: Any) -> Document | None:
        future: asyncio.Future[Document | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((doc_id, future))
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().create_task(self._drain())
        return await _outcome(future)

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
            await self._find(batch)

    async def _find(self, batch: list[tuple[Any, asyncio.Future[Document | None]]]) -> None:
        ids = list({doc_id: None for doc_id, _ in batch})
        try:
            if len(ids) == 1:
                one = await self.collection.find_one({"_id": ids[0]}, self._projection)
                found = {} if one is None else {ids[0]: one}
            else:
                cursor = self.collection.find({"_id": {"$in": ids}}, self._projection)
                found = {doc["_id"]: doc async for doc in cursor}
        except Exception as exc:  # nothing is known of any of them: each caller decides
            for _, future in batch:
                _settle(future, exc=exc)
            return
        given: set[Any] = set()
        for doc_id, future in batch:
            doc = found.get(doc_id)
            # The same id asked twice in one batch: the second caller gets its own copy.
            _settle(future, copy.deepcopy(doc) if doc_id in given else doc)
            given.add(doc_id)


class Swap(NamedTuple):
    """One conditional replacement waiting to be sent (BulkWriter.replace_if)."""

    doc: Document
    expected: Document
    tag: str
    outcome: asyncio.Future[bool]


async def _outcome(future: asyncio.Future[T]) -> T:
    """The caller's outcome; a cancelled caller leaves the request to finish without it."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise


def _settle_each(
    batch: list[tuple[Document, asyncio.Future[bool]]],
    failed: dict[int, Document],
    *,
    duplicate: bool | None,
) -> None:
    """Each writer of a bulk request its outcome: True, the error the server gave its
    document, or `duplicate` for a duplicate key when that is an answer (an insert's)."""
    for i, (_, future) in enumerate(batch):
        error = failed.get(i)
        if error is None:
            _settle(future, True)
        elif duplicate is not None and error.get("code") == 11000:
            _settle(future, duplicate)
        else:
            _settle(future, exc=WriteError(error.get("errmsg", ""), error.get("code"), error))


def _settle(
    future: asyncio.Future[T], result: T | None = None, *, exc: BaseException | None = None
) -> None:
    if future.done():  # its caller was cancelled and gave up on it
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(cast(T, result))


class SequenceDrawer:
    """Numbers drawn from counters (`{_id: key, seq: n}`), unique and in order, with one
    request for all the callers waiting on a key.

    FerretDB does not make find_one_and_update($inc) atomic, so concurrent requests could
    draw the same number: one request at a time per process keeps numbers unique (a unique
    index on what they number guards against another process). Drawing one number per
    request made every writer wait in line for a round trip; callers that come while a
    request is in flight now share the next one, which draws as many numbers as they are.
    """

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self._waiting: dict[str, list[asyncio.Future[int]]] = {}
        self._running: asyncio.Task[None] | None = None

    async def next(self, key: str) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().create_task(self._drain())
        # A caller cancelled meanwhile leaves its number drawn and unused: a gap, at shutdown.
        return await _outcome(future)

    async def _drain(self) -> None:
        while self._waiting:
            key = next(iter(self._waiting))
            await self._draw(key, self._waiting.pop(key))

    async def _draw(self, key: str, waiting: list[asyncio.Future[int]]) -> None:
        """Draw for everyone waiting on `key`: each gets its number, or the error."""
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": key},
                {"$inc": {"seq": len(waiting)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except Exception as exc:
            for future in waiting:
                _settle(future, exc=exc)
            return
        last = int(doc["seq"]) if doc else 0
        for n, future in enumerate(waiting, start=last - len(waiting) + 1):
            _settle(future, n)
