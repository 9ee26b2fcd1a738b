"""Cases in MongoDB (collection `cases`, one document per case, _id = case id).

Every write of a case goes through the shared aggregate store (`shared.store`), a
compare-and-set on its version. After each write the store calls `_project`, which keeps
`case_index` (the slim projection the HTTP lists query) and the in-memory working set of
open cases (`open_cases.OpenCases`) that answers every per-event question.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.routing.adapters.open_cases import OpenCases, Standing
from services.routing.domain.duplicates import Candidate
from services.routing.domain.model import (
    OPEN_STATUSES,
    AssignmentRecord,
    Attachment,
    Case,
    CategoryScore,
    EscalationRecord,
    HistoryChunk,
    Status,
    TimelineEntry,
    Timer,
)
from shared import taxonomy
from shared.mongo import BulkWriter, Document, once
from shared.outbox import Emission, RawPublisher
from shared.store import AggregateStore, ensure_index

_TAXONOMY = {c.code: c for c in taxonomy.CATEGORIES}


def _category(c: CategoryScore) -> Document:
    doc: Document = {"code": c.code, "score": c.score, "evidence": list(c.evidence)}
    # The taxonomy's labels are not stored again with every case: only labels of its own.
    known = _TAXONOMY.get(c.code)
    if known is None or (known.label_th, known.label_en) != (c.label_th, c.label_en):
        doc.update(label_th=c.label_th, label_en=c.label_en)
    return doc


def _categories(scores: Sequence[CategoryScore]) -> list[Document]:
    return [_category(c) for c in scores]


def _category_from(d: Document) -> CategoryScore:
    known = _TAXONOMY.get(d["code"])
    return CategoryScore(
        d["code"],
        d.get("label_th") or (known.label_th if known else d["code"]),
        d.get("label_en") or (known.label_en if known else d["code"]),
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
        "categories": _categories(case.categories),
        # The classifier's own ranking only when the citizen's choice made it differ.
        "ranking": None
        if case.ranking == case.categories
        else [_category(c) for c in case.ranking],
        "category_source": case.category_source,
        "reasons": list(case.reasons),
        "acknowledge_due_at": case.acknowledge_due_at,
        "respond_due_at": case.respond_due_at,
        "overdue_from": overdue_from(case),
        "escalation_level": case.escalation_level,
        "duplicate_of": case.duplicate_of,
        "likely_duplicate_of": case.likely_duplicate_of,
        "duplicate_root": case.duplicate_root,
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
        "attachments": [{"kind": a.kind, "ref": a.ref} for a in case.attachments],
        "accused_department": case.accused_department,
        "assignment_no": case.assignment_no,
        "assignments": [_assignment_doc(a) for a in case.assignments],
        "acknowledged_at": case.acknowledged_at,
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
        "resolution": case.resolution,
        "after_photo_ref": case.after_photo_ref,
        "cause": case.cause,
        "cause_note": case.cause_note,
        "forwarded_to": case.forwarded_to,
        "paused_since": case.paused_since,
        "deadline_epoch": case.deadline_epoch,
        "timers": [
            {"key": t.key, "kind": t.kind, "due_at": t.due_at, "level": t.level}
            for t in case.timers
        ],
        "next_timer_at": case.next_timer_at,
        "fired_timers": list(case.fired_timers),
        "escalations": [_escalation_doc(e) for e in case.escalations],
        "applied_commands": list(case.applied_commands),
        "timeline": [_timeline_doc(t) for t in case.timeline],
        "timeline_seq": case.timeline_seq,
        "filed": dict(case.filed),
        "assigned_at": case.assigned_at,
        "updated_at": case.updated_at,
    }


def _assignment_doc(a: AssignmentRecord) -> Document:
    return {
        "no": a.no,
        "at": a.at,
        "department": a.department,
        "officer_id": a.officer_id,
        "reasons": list(a.reasons),
        "cause": a.cause,
    }


def _assignment_from(a: Document) -> AssignmentRecord:
    return AssignmentRecord(
        a["no"],
        a["at"],
        a["department"],
        a.get("officer_id"),
        tuple(a.get("reasons") or ()),
        a.get("cause", "receive"),
    )


def _escalation_doc(e: EscalationRecord) -> Document:
    return {
        "level": e.level,
        "at": e.at,
        "to_role": e.to_role,
        "to_officer_id": e.to_officer_id,
        "reason": e.reason,
    }


def _escalation_from(e: Document) -> EscalationRecord:
    return EscalationRecord(e["level"], e["at"], e["to_role"], e.get("to_officer_id"), e["reason"])


def _timeline_doc(t: TimelineEntry) -> Document:
    return {
        "seq": t.seq,
        "at": t.at,
        "action": t.action,
        "status": t.status,
        "officer_id": t.officer_id,
        "note": t.note,
    }


def _timeline_from(t: Document) -> TimelineEntry:
    return TimelineEntry(**t)


# How each history list is written and read, in the case and in `case_history`.
HISTORY_FORMS: dict[str, tuple[Any, Any]] = {
    "timeline": (_timeline_doc, _timeline_from),
    "assignments": (_assignment_doc, _assignment_from),
    "escalations": (_escalation_doc, _escalation_from),
}


def chunk_document(chunk: HistoryChunk) -> Document:
    write, _ = HISTORY_FORMS[chunk.kind]
    return {
        "_id": chunk.chunk_id,
        "case_id": chunk.case_id,
        "kind": chunk.kind,
        "no": chunk.no,
        "entries": [write(e) for e in chunk.entries],
    }


def from_document(doc: Document) -> Case:
    timeline = [_timeline_from(t) for t in doc.get("timeline") or []]
    categories = [_category_from(c) for c in doc.get("categories") or []]
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
        categories=categories,
        ranking=list(categories)
        if doc.get("ranking") is None
        else [_category_from(c) for c in doc["ranking"]],
        category_source=doc.get("category_source") or "classifier",
        reasons=list(doc.get("reasons") or []),
        acknowledge_due_at=doc.get("acknowledge_due_at"),
        respond_due_at=doc.get("respond_due_at"),
        escalation_level=doc.get("escalation_level", 0),
        duplicate_of=doc.get("duplicate_of"),
        likely_duplicate_of=doc.get("likely_duplicate_of"),
        duplicate_root=doc.get("duplicate_root"),
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
        attachments=[Attachment(a["kind"], a["ref"]) for a in doc.get("attachments") or []],
        accused_department=doc.get("accused_department"),
        assignment_no=doc.get("assignment_no", 0),
        assignments=[_assignment_from(a) for a in doc.get("assignments") or []],
        acknowledged_at=doc.get("acknowledged_at"),
        resolved_at=doc.get("resolved_at"),
        closed_at=doc.get("closed_at"),
        resolution=doc.get("resolution"),
        after_photo_ref=doc.get("after_photo_ref"),
        cause=doc.get("cause"),
        cause_note=doc.get("cause_note"),
        forwarded_to=doc.get("forwarded_to"),
        paused_since=doc.get("paused_since"),
        deadline_epoch=doc.get("deadline_epoch", 1),
        timers=[
            Timer(t["key"], t["kind"], t["due_at"], t.get("level", 0))
            for t in doc.get("timers") or []
        ],
        fired_timers=list(doc.get("fired_timers") or []),
        escalations=[_escalation_from(e) for e in doc.get("escalations") or []],
        applied_commands=list(doc.get("applied_commands") or []),
        timeline=timeline,
        timeline_seq=doc.get("timeline_seq") or max((t.seq for t in timeline), default=0),
        filed={k: int(v) for k, v in (doc.get("filed") or {}).items()},
        assigned_at=doc.get("assigned_at"),
        updated_at=doc.get("updated_at"),
        version=doc.get("version", 0),
    )


INDEX_FIELDS = (
    "org_id",
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
    "duplicate_root",
    "received_at",
)
INDEX_TEXT = 500  # enough words to compare for duplicates


def index_entry(doc: Document) -> Document:
    entry = {k: doc.get(k) for k in INDEX_FIELDS}
    entry["_id"] = doc["_id"]
    entry["text"] = (doc.get("text") or "")[:INDEX_TEXT]
    return entry


# What the working set of open cases can answer alone: equalities on these fields.
MEMORY_FILTERS = frozenset(
    {"org_id", "department", "officer_id", "channel", "channel_message_id", "category", "kind",
     "village_no", "status"}
)  # fmt: skip
OPEN_STATUS_VALUES = frozenset(s.value for s in OPEN_STATUSES)


def only_open(filters: dict[str, Any]) -> bool:
    """True when a list asks only for open cases (a work queue): the working set holds them
    all, so it answers without a scan of case_index (which FerretDB cannot filter)."""
    status = filters.get("status")
    statuses = status.get("$in", []) if isinstance(status, dict) else [status]
    return (
        bool(statuses)
        and set(statuses) <= OPEN_STATUS_VALUES
        and set(filters) <= MEMORY_FILTERS
        and (not isinstance(status, dict) or set(status) == {"$in"})
    )


def query(filters: dict[str, Any], overdue_at: datetime | None) -> Document:
    q: Document = {k: v for k, v in filters.items() if v is not None}
    if overdue_at is not None:
        q["overdue_from"] = {"$lt": overdue_at}
    return q


class MongoCaseRepository:
    """Cases through the shared aggregate store, with `case_index` written beside each.

    Per-event questions (loads, due timers, duplicate candidates) are answered from the
    in-memory working set of open cases (`OpenCases`); only the HTTP lists query
    `case_index`.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        publisher: RawPublisher,
        *,
        reload_every: float = 1800.0,
    ) -> None:
        self._cases = db["cases"]
        self._index = db["case_index"]
        self._history = db["case_history"]
        self._db = db
        self._store = AggregateStore(self._cases, publisher, after_write=self._project)
        self._new_entries = BulkWriter(self._index)
        self._open = OpenCases()
        # Other replicas' changes show at the next reload, a background loop's work.
        self.reload_every = reload_every

    async def ensure_indexes(self) -> None:
        await self._store.ensure_indexes()
        for fields in (
            ("department", "status"),
            ("officer_id", "status"),
            ("channel", "channel_message_id"),
            ("overdue_from",),
            ("open", "received_at"),
            ("received_at", "_id"),
        ):
            await ensure_index(self._index, fields)

    async def repair_index(self) -> None:
        """Start-up hook: re-project what a crash left half-written, then load the
        working set of open cases."""
        await self._store.recover()
        await once(self._db, "case_index.org_id", self._index_org_ids)
        await self.reload_open()

    async def _index_org_ids(self) -> None:
        """Entries written before `case_index` carried `org_id` (the lists filter on it)
        are projected again from their case."""
        async for entry in self._index.find({"org_id": {"$exists": False}}, {"_id": 1}):
            doc = await self._cases.find_one({"_id": entry["_id"]}, {"outbox": 0})
            if doc is not None:
                await self._index.replace_one({"_id": doc["_id"]}, index_entry(doc), upsert=True)

    async def reload_open(self) -> int:
        """Read the open cases again (other replicas' changes); returns how many."""
        entries = [e async for e in self._index.find({"open": True})]
        self._open.replace_all(entries)
        return len(entries)

    async def _project(self, doc: Document) -> None:
        """Write the index entry of this version of the case (the writer holds it)."""
        entry = index_entry(doc)
        # A new case's entry is inserted, with other new cases' (far cheaper than an upsert
        # on FerretDB); one already there (re-projected after a crash) is replaced.
        if doc.get("version") != 1 or not await self._new_entries.insert(entry):
            await self._index.replace_one({"_id": doc["_id"]}, entry, upsert=True)
        self._open.put(entry)

    # -- CaseRepository ----------------------------------------------------------------

    async def get(self, case_id: str) -> Case | None:
        doc = await self._store.get(case_id)
        if doc is None:
            return None
        # Whatever is read is the truth: the working set follows it.
        self._open.put(index_entry(doc))
        return from_document(doc)

    def reserve(self, case: Case) -> None:
        self._open.put(index_entry(to_document(case)))

    async def save(self, case: Case, emissions: Sequence[Emission]) -> None:
        # Filed before the case that no longer holds them; a chunk never changes, so a
        # save that then loses its race and is decided again files the same chunk again.
        for chunk in case.file_history():
            doc = chunk_document(chunk)
            await self._history.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        case.version = await self._store.save(
            to_document(case), expected_version=case.version, emissions=emissions
        )

    async def history(self, case_id: str, kind: str, no: int) -> list[Any]:
        doc = await self._history.find_one({"_id": HistoryChunk(case_id, kind, no, []).chunk_id})
        if doc is None:
            return []
        _, read = HISTORY_FORMS[kind]
        return [read(e) for e in doc["entries"]]

    async def flush(self, case_id: str) -> int:
        return await self._store.flush(case_id)

    async def sweep(self) -> int:
        return await self._store.sweep()

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
        if only_open(filters):
            rows = self._open.select(filters, overdue_at)[offset : offset + limit]
            return [{k: v for k, v in r.items() if k != "text"} for r in rows]
        cursor = (
            self._index.find(query(filters, overdue_at), {"text": 0})
            .sort([("received_at", ASCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def count(self, filters: dict[str, Any], *, overdue_at: datetime | None = None) -> int:
        if only_open(filters):
            return len(self._open.select(filters, overdue_at))
        return await self._index.count_documents(query(filters, overdue_at))

    async def loads(self) -> dict[str, int]:
        return self._open.loads()

    def standing(self, now: datetime) -> Standing:
        return self._open.standing(now)

    async def due(self, now: datetime, limit: int) -> list[str]:
        return self._open.due(now, limit)

    async def duplicate_candidates(self, case: Case, limit: int) -> list[Candidate]:
        return self._open.candidates(
            case.case_id, case.category, case.lat, case.lon, case.village_no, limit
        )
