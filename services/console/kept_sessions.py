"""The console's sessions in MongoDB (`console_sessions`), so that a restart does not sign
everyone out. What is stored is sealed by `SessionStore` (Fernet, a key of the session
secret's) and filed under a keyed hash of the session id: this collection holds no usable
token or cookie. An entry past its `until` is never read, and is deleted by the hourly
housekeeping."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from shared.mongo import Document


class MongoSessions:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._sessions = db["console_sessions"]

    async def load(self, key: str) -> bytes | None:
        try:
            doc = await self._sessions.find_one({"_id": key})
        except PyMongoError as exc:  # the SessionKeeper's word for "not reachable"
            raise OSError(str(exc)) from exc
        if doc is None or _aware(doc["until"]) <= datetime.now(UTC):
            return None
        return bytes(doc["sealed"])

    async def save(self, key: str, sealed: bytes, until: datetime) -> None:
        try:
            await self._sessions.replace_one(
                {"_id": key}, {"_id": key, "sealed": Binary(sealed), "until": until}, upsert=True
            )
        except PyMongoError as exc:
            raise OSError(str(exc)) from exc

    async def delete(self, key: str) -> None:
        try:
            await self._sessions.delete_one({"_id": key})
        except PyMongoError as exc:
            raise OSError(str(exc)) from exc

    async def purge(self, now: datetime) -> int:
        # A filter on `until` reads the (small) collection: hourly housekeeping only.
        result = await self._sessions.delete_many({"until": {"$lt": now}})
        return int(result.deleted_count)


def _aware(moment: datetime) -> datetime:
    # MongoDB hands back naive UTC unless the client is tz_aware.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
