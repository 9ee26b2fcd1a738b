"""Files the console keeps for a case: after-photos of resolved cases and scans of letters
taken in on a citizen's behalf. An image is re-encoded without its metadata (the public
site's `clean`: no EXIF, GPS or comment survives); a scan may also be a PDF, kept as the
office's scanner made it. Kept in MongoDB and served only to whom routing shows the case. A
photo or a letter can show people, houses and names: deleted after its retention."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from services.portal.adapters.images import PhotoRefused, clean
from shared.mongo import Document

PREFIX = "console-photo:"
SCAN_PREFIX = "console-scan:"
JPEG = "image/jpeg"
PDF = "application/pdf"

__all__ = [
    "JPEG",
    "PDF",
    "PREFIX",
    "SCAN_PREFIX",
    "Kept",
    "MongoPhotos",
    "PhotoRefused",
    "PhotoStore",
    "cleaned",
    "scan_of",
]


class Kept(NamedTuple):
    data: bytes
    case_id: str | None  # None: a scan whose letter intake has not numbered (yet)
    media_type: str


class PhotoStore(Protocol):
    async def keep(self, case_id: str, data: bytes) -> str: ...

    async def keep_scan(self, data: bytes) -> str: ...

    async def link(self, ref: str, case_id: str) -> None: ...

    async def get(self, photo_id: str) -> Kept | None: ...


def cleaned(data: bytes) -> bytes:
    """The pixels alone, as a JPEG; `PhotoRefused` for what is not an image."""
    return clean(data).jpeg


def scan_of(data: bytes) -> tuple[bytes, str]:
    """A letter's scan as it is kept: a PDF as it came (it is the office scanner's, checked
    to be one), an image re-encoded from its pixels; `PhotoRefused` for anything else."""
    if data.startswith(b"%PDF-") and b"%%EOF" in data[-2048:]:
        return data, PDF
    return cleaned(data), JPEG


class MongoPhotos:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._photos = db["console_photos"]

    async def _insert(self, case_id: str | None, data: bytes, media_type: str) -> str:
        photo_id = secrets.token_urlsafe(16)
        await self._photos.insert_one(
            {
                "_id": photo_id,
                "case_id": case_id,
                "data": Binary(data),
                "media_type": media_type,
                "stored_at": datetime.now(UTC),
            }
        )
        return photo_id

    async def keep(self, case_id: str, data: bytes) -> str:
        return PREFIX + await self._insert(case_id, cleaned(data), JPEG)

    async def keep_scan(self, data: bytes) -> str:
        # Kept before intake numbers the letter: `link` names its case afterwards.
        kept, media_type = scan_of(data)
        return SCAN_PREFIX + await self._insert(None, kept, media_type)

    async def link(self, ref: str, case_id: str) -> None:
        photo_id = ref.removeprefix(SCAN_PREFIX).removeprefix(PREFIX)
        await self._photos.update_one({"_id": photo_id}, {"$set": {"case_id": case_id}})

    async def get(self, photo_id: str) -> Kept | None:
        doc = await self._photos.find_one({"_id": photo_id})
        if doc is None:
            return None
        case_id = doc.get("case_id")
        return Kept(
            bytes(doc["data"]),
            str(case_id) if case_id else None,
            str(doc.get("media_type") or JPEG),
        )

    async def purge(self, kept_since: datetime) -> int:
        # A filter on stored_at reads the (small) collection: hourly housekeeping only.
        result = await self._photos.delete_many({"stored_at": {"$lt": kept_since}})
        return int(result.deleted_count)
