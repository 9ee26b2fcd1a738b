"""After-photos of resolved cases: re-encoded without their metadata (the public site's
`clean`: no EXIF, GPS or comment survives), kept in MongoDB, and shown only to whom routing
shows the case. A photo can show people and houses: deleted after its retention."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Protocol

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from services.portal.adapters.images import PhotoRefused, clean
from shared.mongo import Document

PREFIX = "console-photo:"

__all__ = ["PREFIX", "MongoPhotos", "PhotoRefused", "PhotoStore", "cleaned"]


class PhotoStore(Protocol):
    async def keep(self, case_id: str, data: bytes) -> str: ...

    async def get(self, photo_id: str) -> tuple[bytes, str] | None: ...


def cleaned(data: bytes) -> bytes:
    """The pixels alone, as a JPEG; `PhotoRefused` for what is not an image."""
    return clean(data).jpeg


class MongoPhotos:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._photos = db["console_photos"]

    async def keep(self, case_id: str, data: bytes) -> str:
        photo_id = secrets.token_urlsafe(16)
        await self._photos.insert_one(
            {
                "_id": photo_id,
                "case_id": case_id,
                "data": Binary(cleaned(data)),
                "stored_at": datetime.now(UTC),
            }
        )
        return PREFIX + photo_id

    async def get(self, photo_id: str) -> tuple[bytes, str] | None:
        doc = await self._photos.find_one({"_id": photo_id})
        if doc is None:
            return None
        return bytes(doc["data"]), str(doc["case_id"])

    async def purge(self, kept_since: datetime) -> int:
        # A filter on stored_at reads the (small) collection: hourly housekeeping only.
        result = await self._photos.delete_many({"stored_at": {"$lt": kept_since}})
        return int(result.deleted_count)
