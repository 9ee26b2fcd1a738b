"""MongoDB access through PyMongo's AsyncMongoClient (the successor of motor).

The same code runs on FerretDB (SQLite backend) locally and on MongoDB in
production, so it keeps to what both support: no transactions, no change streams,
$group with $sum/$count only, money as integer satang, no TTL indexes.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


def create_client(url: str, *, app_name: str) -> AsyncMongoClient[Document]:
    # tz_aware so datetimes come back as UTC-aware values, like the ones we store.
    return AsyncMongoClient(
        url,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        retryWrites=False,  # FerretDB v1 does not support retryable writes
    )


async def ping(db: AsyncDatabase[Document]) -> bool:
    try:
        await db.command("ping")
    except Exception:  # any failure means "not healthy"; /healthz reports it
        return False
    return True


def is_duplicate_key(exc: BaseException) -> bool:
    from pymongo.errors import BulkWriteError, DuplicateKeyError

    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return all(e.get("code") == 11000 for e in exc.details.get("writeErrors", []))
    return False
