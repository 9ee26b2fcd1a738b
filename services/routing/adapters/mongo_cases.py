"""Cases in MongoDB (collection `cases`, one document per case, _id = case id).

Every write of a case is a compare-and-set on its version, guarded by a claim
(`shared.outbox.claim_version`): the version filter alone is not enough on FerretDB v1
(SQLite): measured on the test stack, two concurrent `replace_one({"_id": x, "version": v},
...)` both matched in 10 of 30 trials, and a concurrent `$set` undid a replace in 8 of 30.

Queries (work queues, loads, due timers, duplicate candidates, the outbox sweep) run on
`case_index`, a slim projection written after each write of a case: FerretDB on SQLite
scans and decodes whole documents for such filters, and a case document with its
timeline and outbox is many times the size of its index entry (measured: ~0.5 s per
query over 145 full cases, ~0.1-0.2 s over 1,000 slim ones).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.routing.domain.duplicates import Candidate, bounding_box
from services.routing.domain.model import (
    OPEN_STATUSES,
    AssignmentRecord,
    Case,
    CategoryScore,
    EscalationRecord,
    Status,
    TimelineEntry,
    Timer,
)
from shared.errors import ConcurrencyError
from shared.mongo import Document, is_duplicate_key
from shared.outbox import Emission, RawPublisher, claim_version
from shared.topics import Topic

OPEN = sorted(s.value for s in OPEN_STATUSES)


def _category(c: CategoryScore) -> Document:
    return {
        "code": c.code,
        "label_th": c.label_th,
        "label_en": c.label_en,
        "score": c.score,
        "evidence": list(c.evidence),
    }


def _category_from(d: Document) -> CategoryScore:
    return CategoryScore(
        d["code"],
        d.get("label_th") or d["code"],
        d.get("label_en") or d["code"],
        float(d["score"]),
        tuple(d.get("evidence") or ()),
    )


def overdue_from(case: Case) -> datetime | None:
    """The moment from which the case counts as overdue (None: it cannot be, now).

    Stored, so that "overdue at t" is one indexed range query: a paused case keeps the
    state it was in when the clock stopped.
    """
    if not case.is_open or case.respond_due_at is None:
        return None
    if case.paused_since is not None:
        return case.respond_due_at if case.paused_since > case.respond_due_at else None
    return case.respond_due_at


def to_document(case: Case) -> Document:
    return {
        "_id": case.case_id,
        "org_id": case.org_id,
        "kind": case.kind,
        "channel": case.channel,
        "text": case.text,
        "received_at": case.received_at,
        "status": case.status.value,
        "open": case.is_open,
        "department": case.department,
        "officer_id": case.officer_id,
        "category": case.category,
        "categories": [_category(c) for c in case.categories],
        "ranking": [_category(c) for c in case.ranking],
        "category_source": case.category_source,
        "reasons": list(case.reasons),
        "acknowledge_due_at": case.acknowledge_due_at,
        "respond_due_at": case.respond_due_at,
        "overdue_from": overdue_from(case),
        "escalation_level": case.escalation_level,
        "duplicate_of": case.duplicate_of,
        "likely_duplicate_of": case.likely_duplicate_of,
        "duplicate_reason": case.duplicate_reason,
        "channel_message_id": case.channel_message_id,
        "contact_ref": case.contact_ref,
        "village_no": case.village_no,
        "lat": case.lat,
        "lon": case.lon,
        "address": case.address,
        "service_code": case.service_code,
        "department_hint": case.department_hint,
        "links": [{"key": k, "value": v} for k, v in case.links.items()],  # keys may hold "."
        "accused_department": case.accused_department,
        "assignment_no": case.assignment_no,
        "assignments": [
            {
                "no": a.no,
                "at": a.at,
                "department": a.department,
                "officer_id": a.officer_id,
                "reasons": list(a.reasons),
                "cause": a.cause,
            }
            for a in case.assignments
        ],
        "acknowledged_at": case.acknowledged_at,
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
        "resolution": case.resolution,
        "after_photo_ref": case.after_photo_ref,
        "forwarded_to": case.forwarded_to,
        "paused_since": case.paused_since,
        "deadline_epoch": case.deadline_epoch,
        "timers": [
            {"key": t.key, "kind": t.kind, "due_at": t.due_at, "level": t.level}
            for t in case.timers
        ],
        "next_timer_at": case.next_timer_at,
        "fired_timers": list(case.fired_timers),
        "escalations": [
            {
                "level": e.level,
                "at": e.at,
                "to_role": e.to_role,
                "to_officer_id": e.to_officer_id,
                "reason": e.reason,
            }
            for e in case.escalations
        ],
        "applied_commands": list(case.applied_commands),
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
        categories=[_category_from(c) for c in doc.get("categories") or []],
        ranking=[_category_from(c) for c in doc.get("ranking") or []],
        category_source=doc.get("category_source") or "classifier",
        reasons=list(doc.get("reasons") or []),
        acknowledge_due_at=doc.get("acknowledge_due_at"),
        respond_due_at=doc.get("respond_due_at"),
        escalation_level=doc.get("escalation_level", 0),
        duplicate_of=doc.get("duplicate_of"),
        likely_duplicate_of=doc.get("likely_duplicate_of"),
        duplicate_reason=doc.get("duplicate_reason"),
        channel_message_id=doc.get("channel_message_id"),
        contact_ref=doc.get("contact_ref"),
        village_no=doc.get("village_no"),
        lat=doc.get("lat"),
        lon=doc.get("lon"),
        address=doc.get("address"),
        service_code=doc.get("service_code"),
        department_hint=doc.get("department_hint"),
        links={x["key"]: x["value"] for x in doc.get("links") or []},
        accused_department=doc.get("accused_department"),
        assignment_no=doc.get("assignment_no", 0),
        assignments=[
            AssignmentRecord(
                a["no"],
                a["at"],
                a["department"],
                a.get("officer_id"),
                tuple(a.get("reasons") or ()),
                a.get("cause", "receive"),
            )
            for a in doc.get("assignments") or []
        ],
        acknowledged_at=doc.get("acknowledged_at"),
        resolved_at=doc.get("resolved_at"),
        closed_at=doc.get("closed_at"),
        resolution=doc.get("resolution"),
        after_photo_ref=doc.get("after_photo_ref"),
        forwarded_to=doc.get("forwarded_to"),
        paused_since=doc.get("paused_since"),
        deadline_epoch=doc.get("deadline_epoch", 1),
        timers=[
            Timer(t["key"], t["kind"], t["due_at"], t.get("level", 0))
            for t in doc.get("timers") or []
        ],
        fired_timers=list(doc.get("fired_timers") or []),
        escalations=[
            EscalationRecord(e["level"], e["at"], e["to_role"], e.get("to_officer_id"), e["reason"])
            for e in doc.get("escalations") or []
        ],
        applied_commands=list(doc.get("applied_commands") or []),
        timeline=[TimelineEntry(**t) for t in doc.get("timeline") or []],
        assigned_at=doc.get("assigned_at"),
        updated_at=doc.get("updated_at"),
        version=doc.get("version", 0),
    )


INDEX_FIELDS = (
    "open",
    "status",
    "department",
    "officer_id",
    "channel",
    "channel_message_id",
    "category",
    "category_source",
    "kind",
    "lat",
    "lon",
    "village_no",
    "next_timer_at",
    "overdue_from",
    "respond_due_at",
    "escalation_level",
    "likely_duplicate_of",
    "received_at",
    "outbox_pending",
    "version",
)
INDEX_TEXT = 500  # enough words to compare for duplicates


def index_entry(doc: Document) -> Document:
    entry = {k: doc.get(k) for k in INDEX_FIELDS}
    entry["_id"] = doc["_id"]
    entry["text"] = (doc.get("text") or "")[:INDEX_TEXT]
    return entry


def query(filters: dict[str, Any], overdue_at: datetime | None) -> Document:
    q: Document = {k: v for k, v in filters.items() if v is not None}
    if overdue_at is not None:
        q["overdue_from"] = {"$lt": overdue_at}
    return q


class MongoCaseRepository:
    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._cases = db["cases"]
        self._index = db["case_index"]
        self._publisher = publisher
        # Saved by this process and not yet published, so the flush that follows a save
        # needs no read. Lost on a crash, which is fine: then the document is read.
        self._unflushed: dict[str, tuple[int, list[Document]]] = {}

    async def ensure_indexes(self) -> None:
        await self._index.create_index([("outbox_pending", ASCENDING)])
        await self._index.create_index([("department", ASCENDING), ("status", ASCENDING)])
        await self._index.create_index([("officer_id", ASCENDING), ("status", ASCENDING)])
        await self._index.create_index([("channel", ASCENDING), ("channel_message_id", ASCENDING)])
        await self._index.create_index([("next_timer_at", ASCENDING)])
        await self._index.create_index([("overdue_from", ASCENDING)])
        await self._index.create_index(
            [("open", ASCENDING), ("category", ASCENDING), ("lat", ASCENDING)]
        )
        await self._index.create_index([("open", ASCENDING), ("village_no", ASCENDING)])
        await self._index.create_index([("received_at", ASCENDING), ("_id", ASCENDING)])

    async def reindex(self) -> int:
        """Project the cases whose index entry lags (a crash between the two writes)."""
        indexed = {
            d["_id"]: d.get("version", 0)
            async for d in self._index.find({}, {"_id": 1, "version": 1})
        }
        fixed = 0
        async for doc in self._cases.find({}, {k: 1 for k in (*INDEX_FIELDS, "text")}):
            if indexed.get(doc["_id"], -1) < doc.get("version", 0):
                await self._project(doc)
                fixed += 1
        return fixed

    async def repair_index(self) -> None:
        """Start-up hook: what a crash between a case's write and its index entry left."""
        await self.reindex()

    async def _project(self, doc: Document) -> None:
        """Write the index entry of this version of the case (the writer holds its claim)."""
        await self._index.replace_one({"_id": doc["_id"]}, index_entry(doc), upsert=True)

    # -- CaseRepository ----------------------------------------------------------------

    async def get(self, case_id: str) -> Case | None:
        doc = await self._cases.find_one({"_id": case_id}, {"outbox": 0})
        return from_document(doc) if doc else None

    async def save(self, case: Case, emissions: Sequence[Emission]) -> None:
        items = [e.to_item() for e in emissions]
        body = to_document(case)
        if case.version == 0:
            body.update(version=1, outbox=items, outbox_pending=bool(items))
            try:
                await self._cases.insert_one(body)
            except Exception as exc:
                if is_duplicate_key(exc):
                    raise ConcurrencyError(f"{case.case_id} already exists") from exc
                raise
        else:
            # The claim makes us the only writer from this version; every filter names
            # the _id alone because FerretDB scans the whole collection for anything else.
            await claim_version(self._cases, case.case_id, case.version)
            current = await self._cases.find_one({"_id": case.case_id}, {"outbox": 1, "version": 1})
            if current is None or current.get("version") != case.version:
                raise ConcurrencyError(f"{case.case_id} is not at version {case.version}")
            pending = list(current.get("outbox") or []) + items
            body.update(version=case.version + 1, outbox=pending, outbox_pending=bool(pending))
            await self._cases.replace_one({"_id": case.case_id}, body)
        await self._project(body)
        case.version = body["version"]
        if body["outbox"]:
            self._unflushed[case.case_id] = (case.version, body["outbox"])

    async def flush(self, case_id: str) -> int:
        """Publish the case's pending events, then clear them. Clearing is a version step
        like any write, so it can never wipe events a concurrent writer appended; if it
        loses, the next flush republishes, which consumers absorb by event id."""
        known = self._unflushed.pop(case_id, None)
        if known is None:
            doc = await self._cases.find_one({"_id": case_id}, {"outbox": 1, "version": 1})
            if not doc or not doc.get("outbox"):
                return 0
            known = (doc["version"], doc["outbox"])
        version, items = known
        for item in items:
            await self._publisher.publish_raw(
                Topic(item["topic"]), item.get("key"), item["value"].encode("utf-8")
            )
        with contextlib.suppress(ConcurrencyError):
            await claim_version(self._cases, case_id, version)
            # The claim of an old version can be taken again once the case has moved on:
            # check it is still at the version we published before touching it.
            current = await self._cases.find_one({"_id": case_id}, {"version": 1})
            if current is None or current.get("version") != version:
                return len(items)
            cleared = {"outbox": [], "outbox_pending": False, "version": version + 1}
            await self._cases.update_one({"_id": case_id}, {"$set": cleared})
            await self._index.update_one(
                {"_id": case_id}, {"$set": {"outbox_pending": False, "version": version + 1}}
            )
        return len(items)

    async def sweep(self, limit: int = 500) -> int:
        published = 0
        cursor = self._index.find({"outbox_pending": True}, {"_id": 1}).limit(limit)
        async for doc in cursor:
            published += await self.flush(doc["_id"])
        return published

    async def find(
        self,
        filters: dict[str, Any],
        limit: int,
        offset: int,
        *,
        overdue_at: datetime | None = None,
    ) -> list[Case]:
        cursor = (
            self._index.find(query(filters, overdue_at), {"_id": 1})
            .sort([("received_at", ASCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        ids = [doc["_id"] async for doc in cursor]
        if not ids:
            return []
        docs = {d["_id"]: d async for d in self._cases.find({"_id": {"$in": ids}}, {"outbox": 0})}
        return [from_document(docs[i]) for i in ids if i in docs]

    async def summaries(
        self,
        filters: dict[str, Any],
        limit: int,
        offset: int,
        *,
        overdue_at: datetime | None = None,
    ) -> list[Document]:
        cursor = (
            self._index.find(query(filters, overdue_at), {"text": 0, "outbox_pending": 0})
            .sort([("received_at", ASCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def count(self, filters: dict[str, Any], *, overdue_at: datetime | None = None) -> int:
        return await self._index.count_documents(query(filters, overdue_at))

    async def loads(self) -> dict[str, int]:
        pipeline: list[Document] = [
            {"$match": {"open": True}},
            {"$group": {"_id": "$officer_id", "n": {"$sum": 1}}},
        ]
        cursor = await self._index.aggregate(pipeline)
        return {doc["_id"]: int(doc["n"]) async for doc in cursor if doc["_id"]}

    async def due(self, now: datetime, limit: int) -> list[str]:
        cursor = (
            self._index.find({"next_timer_at": {"$lte": now}}, {"_id": 1})
            .sort([("next_timer_at", ASCENDING)])
            .limit(limit)
        )
        return [doc["_id"] async for doc in cursor]

    async def duplicate_candidates(self, case: Case, limit: int) -> list[Candidate]:
        ors: list[Document] = []
        if case.category and case.lat is not None and case.lon is not None:
            lat0, lat1, lon0, lon1 = bounding_box(case.lat, case.lon)
            ors.append(
                {
                    "category": case.category,
                    "lat": {"$gte": lat0, "$lte": lat1},
                    "lon": {"$gte": lon0, "$lte": lon1},
                }
            )
        if case.village_no is not None:
            ors.append({"village_no": case.village_no})
        if not ors:
            return []
        cursor = (
            self._index.find(
                {"open": True, "_id": {"$ne": case.case_id}, "$or": ors},
                {"_id": 1, "category": 1, "lat": 1, "lon": 1, "village_no": 1, "text": 1},
            )
            .sort([("received_at", ASCENDING)])
            .limit(limit)
        )
        return [
            Candidate(
                d["_id"],
                d.get("category"),
                d.get("lat"),
                d.get("lon"),
                d.get("village_no"),
                d.get("text") or "",
            )
            async for d in cursor
        ]
