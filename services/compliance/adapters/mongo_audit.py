"""The audit trail in MongoDB (collection `audit_trail`, one document per record).

Append-only: a record is inserted under its own id and never updated or deleted by Ruam. A
redelivered record meets the unique `_id` and is dropped, so each act is one record.
Records are kept for ten years (docs/auth.md says why); nothing here removes them.
"""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.compliance.ports import AuditQuery
from shared.events.audit import AuditPayload
from shared.mongo import Document
from shared.store import ensure_index


class MongoAuditTrail:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._records = db["audit_trail"]

    async def ensure_indexes(self) -> None:
        await ensure_index(self._records, ["org_id", "at"])

    async def keep(self, org_id: str, record: AuditPayload) -> bool:
        doc: Document = {"_id": record.record_id, "org_id": org_id, **record.model_dump()}
        doc["roles"] = list(record.roles)
        try:
            await self._records.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def find(self, query: AuditQuery, limit: int, offset: int) -> list[AuditPayload]:
        q: dict[str, Any] = {"org_id": query.org_id}
        for field in ("action", "target", "subject"):
            value = getattr(query, field)
            if value is not None:
                q[field] = value
        cursor = self._records.find(q).sort([("at", DESCENDING), ("_id", 1)])
        docs = await cursor.skip(offset).limit(limit).to_list(length=limit)
        return [
            AuditPayload.model_validate({k: v for k, v in d.items() if k not in ("_id", "org_id")})
            for d in docs
        ]
