"""MongoDB access through PyMongo's AsyncMongoClient (the successor of motor).

The same code runs on FerretDB (SQLite backend) locally and on MongoDB in
production, so it keeps to what both support: no transactions, no change streams,
$group with $sum/$count only, money as integer satang, no TTL indexes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]

# The commands our code sends; anything else is counted as "other" (fixed label set).
COMMANDS = frozenset(
    {"find", "insert", "update", "delete", "findAndModify", "aggregate", "count", "getMore"}
)


class OperationCounter(monitoring.CommandListener):
    """Database commands by name: what `make bench` divides by cases to get ops per case."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "ruam_db_operations_total",
            "Database commands sent, by command and collection",
            ["command", "collection"],
            registry=registry,
        )

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name not in COMMANDS:
            self.total.labels("other", "").inc()
            return
        # The collection names are the code's own, so the label set stays fixed.
        target = event.command.get(name)
        self.total.labels(name, target if isinstance(target, str) else "").inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def create_client(
    url: str, *, app_name: str, registry: CollectorRegistry | None = None
) -> AsyncMongoClient[Document]:
    # tz_aware so datetimes come back as UTC-aware values, like the ones we store.
    return AsyncMongoClient(
        url,
        appname=app_name,
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
