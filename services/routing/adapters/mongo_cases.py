"""Cases in MongoDB (collection `cases`, one document per case, _id = case id)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.routing.domain.model import Case, Status, TimelineEntry
from shared.mongo import Document
from shared.outbox import Emission, OutboxRelay, RawPublisher, save_with_outbox


def to_document(case: Case) -> Document:
    return {
        "_id": case.case_id,
        "org_id": case.org_id,
        "kind": case.kind,
        "channel": case.channel,
        "text": case.text,
        "received_at": case.received_at,
        "status": case.status.value,
        "department": case.department,
        "officer_id": case.officer_id,
        "categories": [{"code": c, "score": s} for c, s in case.categories],
        "reasons": list(case.reasons),
        "acknowledge_due_at": case.acknowledge_due_at,
        "respond_due_at": case.respond_due_at,
        "escalation_level": case.escalation_level,
        "duplicate_of": case.duplicate_of,
        "channel_message_id": case.channel_message_id,
        "contact_ref": case.contact_ref,
        "village_no": case.village_no,
        "timeline": [
            {
                "seq": t.seq,
                "at": t.at,
                "action": t.action,
                "status": t.status,
                "officer_id": t.officer_id,
                "note": t.note,
            }
            for t in case.timeline
        ],
        "assigned_at": case.assigned_at,
        "updated_at": case.updated_at,
    }


def from_document(doc: Document) -> Case:
    return Case(
        case_id=doc["_id"],
        org_id=doc["org_id"],
        kind=doc["kind"],
        channel=doc["channel"],
        text=doc["text"],
        received_at=doc["received_at"],
        status=Status(doc["status"]),
        department=doc.get("department"),
        officer_id=doc.get("officer_id"),
        categories=[(c["code"], c["score"]) for c in doc.get("categories", [])],
        reasons=list(doc.get("reasons", [])),
        acknowledge_due_at=doc.get("acknowledge_due_at"),
        respond_due_at=doc.get("respond_due_at"),
        escalation_level=doc.get("escalation_level", 0),
        duplicate_of=doc.get("duplicate_of"),
        channel_message_id=doc.get("channel_message_id"),
        contact_ref=doc.get("contact_ref"),
        village_no=doc.get("village_no"),
        timeline=[TimelineEntry(**t) for t in doc.get("timeline", [])],
        assigned_at=doc.get("assigned_at"),
        updated_at=doc.get("updated_at"),
        version=doc.get("version", 0),
    )


class MongoCaseRepository:
    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._cases = db["cases"]
        self._relay = OutboxRelay(self._cases, publisher)

    async def ensure_indexes(self) -> None:
        await self._cases.create_index([("outbox_pending", ASCENDING)])
        await self._cases.create_index([("department", ASCENDING), ("status", ASCENDING)])
        await self._cases.create_index([("officer_id", ASCENDING), ("status", ASCENDING)])
        await self._cases.create_index([("channel", ASCENDING), ("channel_message_id", ASCENDING)])

    async def get(self, case_id: str) -> Case | None:
        doc = await self._cases.find_one({"_id": case_id}, {"outbox": 0})
        return from_document(doc) if doc else None

    async def save(self, case: Case, emissions: Sequence[Emission]) -> None:
        case.version = await save_with_outbox(
            self._cases, to_document(case), expected_version=case.version, emissions=list(emissions)
        )

    async def flush(self, case_id: str) -> int:
        return await self._relay.flush(case_id)

    async def sweep(self) -> int:
        return await self._relay.sweep()

    async def find(self, filters: dict[str, Any], limit: int, offset: int) -> list[Case]:
        cursor = (
            self._cases.find(filters, {"outbox": 0})
            .sort([("received_at", ASCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [from_document(doc) async for doc in cursor]
