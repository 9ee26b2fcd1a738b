"""Insight's collections in MongoDB, every write through the shared store (`shared.store`).

- `insight_cases`: one document per case (`_id` = case id): its facts, the event ids
  applied, its contribution to the figures and the change not yet known to be added.
- `insight_figures`: one document per bucket (`_id` = `org|fy|dim|value`), the counts
  and the tokens of the last changes added (one space-separated string, as survey's
  buckets keep theirs: docs/survey-aggregates.md says why not an array).
- `insight_consultations`, `insight_plans`.

Per event everything is read and written by `_id`; `find`/`all` filter on other fields
and are for pages, reports and checks. Counts are integers; no key holds `.` or `$`
(bucket ids and field names pass `rules.safe`), and no array holds an array.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.insight.domain import rules
from services.insight.domain.model import (
    Bucket,
    CaseFacts,
    CaseRecord,
    Contribution,
    Counts,
    Response,
)
from services.insight.domain.plan import (
    Action,
    Consultation,
    Finding,
    FollowUp,
    Plan,
)
from shared.mongo import Document, once
from shared.store import AggregateStore, Decision, change


def _contribution_to(c: Contribution) -> list[Document]:
    return [{"b": bid, "c": dict(counts)} for bid, counts in sorted(c.items())]


def _contribution_from(items: list[Document] | None) -> Contribution:
    return {str(i["b"]): {str(k): int(v) for k, v in i["c"].items()} for i in items or []}


def case_to_document(r: CaseRecord) -> Document:
    f = r.facts
    return {
        "_id": f.case_id,
        "org_id": f.org_id,
        "kind": f.kind,
        "received_at": f.received_at,
        "village_no": f.village_no,
        "activity_id": f.activity_id,
        "cell_lat": f.cell[0] if f.cell else None,
        "cell_lon": f.cell[1] if f.cell else None,
        "linked_to": f.linked_to,
        "department": f.department,
        "assigned_category": f.assigned_category,
        "assignment_no": f.assignment_no,
        "respond_due_at": f.respond_due_at,
        "acknowledged_at": f.acknowledged_at,
        "resolved_at": f.resolved_at,
        "resolved_seq": f.resolved_seq,
        "resolved_category": f.resolved_category,
        "cause": f.cause,
        "reopen_seqs": sorted(f.reopen_seqs),
        "escalation_levels": sorted(f.escalation_levels),
        "closed": f.closed,
        "responses": [
            {"id": x.response_id, "sum": x.score_sum, "n": x.score_n} for x in f.responses
        ],
        "applied": " ".join(r.applied),
        "contribution": _contribution_to(r.contribution),
        "pending": _contribution_to(r.pending),
        "token": r.token,
    }


def case_from_document(d: Document) -> CaseRecord:
    cell = (int(d["cell_lat"]), int(d["cell_lon"])) if d.get("cell_lat") is not None else None
    facts = CaseFacts(
        case_id=d["_id"],
        org_id=d["org_id"],
        kind=d.get("kind"),
        received_at=d.get("received_at"),
        village_no=d.get("village_no"),
        activity_id=d.get("activity_id"),
        cell=cell,
        linked_to=d.get("linked_to"),
        department=d.get("department"),
        assigned_category=d.get("assigned_category"),
        assignment_no=int(d.get("assignment_no") or 0),
        respond_due_at=d.get("respond_due_at"),
        acknowledged_at=d.get("acknowledged_at"),
        resolved_at=d.get("resolved_at"),
        resolved_seq=int(d.get("resolved_seq") or 0),
        resolved_category=d.get("resolved_category"),
        cause=d.get("cause"),
        reopen_seqs=frozenset(int(s) for s in d.get("reopen_seqs") or []),
        escalation_levels=frozenset(int(x) for x in d.get("escalation_levels") or []),
        closed=bool(d.get("closed")),
        responses=tuple(
            Response(x["id"], int(x["sum"]), int(x["n"])) for x in d.get("responses") or []
        ),
    )
    return CaseRecord(
        facts=facts,
        applied=tuple((d.get("applied") or "").split()),
        contribution=_contribution_from(d.get("contribution")),
        pending=_contribution_from(d.get("pending")),
        token=d.get("token"),
    )


def bucket_to_document(b: Bucket) -> Document:
    return {
        "_id": b.bucket_id,
        "org_id": b.org_id,
        "fiscal_year": b.fiscal_year,
        "dim": b.dim,
        "value": b.value,
        "counts": dict(b.counts),
        "applied": " ".join(b.applied),
    }


def bucket_from_document(d: Document) -> Bucket:
    return Bucket(
        bucket_id=d["_id"],
        org_id=d["org_id"],
        fiscal_year=int(d["fiscal_year"]),
        dim=d["dim"],
        value=d["value"],
        counts={str(k): int(v) for k, v in (d.get("counts") or {}).items()},
        applied=tuple((d.get("applied") or "").split()),
    )


class MongoCases:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._collection = db["insight_cases"]
        # A case's events come close together (one handling saves it twice): read back
        # from memory what this process wrote last.
        self._store = AggregateStore(self._collection, publisher=None, remember=5_000)

    async def ensure_indexes(self) -> None:
        return None  # read by _id per event; scanned whole only by checks

    async def get(self, case_id: str) -> tuple[CaseRecord, int] | None:
        doc = await self._store.get(case_id)
        if doc is None:
            return None
        return case_from_document(doc), int(doc.get("version", 0))

    async def save(self, record: CaseRecord, expected_version: int) -> int:
        return await self._store.save(case_to_document(record), expected_version=expected_version)

    async def all(self, org_id: str) -> list[CaseRecord]:
        cursor = self._collection.find({"org_id": org_id}, {"outbox": 0})
        return [case_from_document(d) async for d in cursor]


class MongoFigures:
    """The buckets, and which there are: a page or a report reads a dimension's buckets
    by their ids (`{_id: {$in}}`, served by the index on FerretDB too), never by a filter
    on other fields, which FerretDB's SQLite backend answers by decoding every bucket.

    `insight_figure_ids` keeps one document per organisation and dimension (`org|dim`)
    listing its buckets' ids (those `rules.listed` keeps). A bucket is listed after each
    change to it, also a change found applied already, so the redelivery that follows a
    crash between the two lists it. Ids are never unlisted."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._collection = db["insight_figures"]
        # Few and hot (the totals take a change from every event): kept in memory as written.
        self._store = AggregateStore(self._collection, publisher=None, remember=5_000)
        self._ids = db["insight_figure_ids"]
        self._id_store = AggregateStore(self._ids, publisher=None, remember=1_000)
        self._known: set[str] = set()  # listed for sure: a listing is never undone

    async def ensure_indexes(self) -> None:
        await self._store.ensure_indexes(("org_id", "dim", "fiscal_year"))
        # Buckets stored before the lists were kept: listed once, from a scan.
        await once(self._db, "insight_figure_ids", self._list_stored)

    async def _list_stored(self) -> None:
        async for doc in self._collection.find({}, {"outbox": 0}):
            bucket = bucket_from_document(doc)
            if rules.listed(bucket):
                await self._list(bucket)

    async def add(self, bucket_id: str, change_: Counts, token: str) -> None:
        def decide(current: Document | None) -> Decision:
            kept = bucket_from_document(current) if current is not None else None
            added = rules.add(kept, bucket_id, change_, token)
            return None if added is None else (bucket_to_document(added), ())

        stored = await change(self._store, bucket_id, decide)
        if stored is not None:
            bucket = bucket_from_document(stored)
            if rules.listed(bucket):
                await self._list(bucket)

    async def _list(self, bucket: Bucket) -> None:
        if bucket.bucket_id in self._known:
            return

        def decide(current: Document | None) -> Decision:
            ids = list(current.get("ids") or ()) if current is not None else []
            if bucket.bucket_id in ids:
                return None
            return {"org_id": bucket.org_id, "dim": bucket.dim, "ids": [*ids, bucket.bucket_id]}, ()

        await change(self._id_store, f"{bucket.org_id}|{bucket.dim}", decide)
        self._known.add(bucket.bucket_id)

    async def get(self, bucket_id: str) -> Bucket | None:
        doc = await self._collection.find_one({"_id": bucket_id})
        return bucket_from_document(doc) if doc else None

    async def find(self, org_id: str, dim: str, fiscal_year: int | None = None) -> list[Bucket]:
        listing = await self._ids.find_one({"_id": f"{org_id}|{dim}"}, {"ids": 1})
        ids = [
            bid
            for bid in (listing or {}).get("ids") or ()
            if fiscal_year is None or rules.parse_bucket_id(bid)[1] == fiscal_year
        ]
        if not ids:
            return []
        found = self._collection.find({"_id": {"$in": ids}}, {"outbox": 0})
        return [bucket_from_document(d) async for d in found]

    async def all(self, org_id: str) -> list[Bucket]:
        return [bucket_from_document(d) async for d in self._collection.find({"org_id": org_id})]


def consultation_to_document(c: Consultation) -> Document:
    doc = c.view()
    del doc["people"]  # derived
    return {
        **doc,
        "_id": doc.pop("consultation_id"),
        "org_id": c.org_id,
        # A list, not the view's map: a group's name never becomes a key in storage.
        "participants": [{"group": g, "n": n} for g, n in sorted(c.participants.items())],
        "recorded_by": c.recorded_by,
        "recorded_at": c.recorded_at,
    }


def consultation_from_document(d: Document) -> Consultation:
    return Consultation(
        consultation_id=d["_id"],
        org_id=d["org_id"],
        held_on=date.fromisoformat(d["held_on"]),
        kind=d["kind"],
        title=d["title"],
        participants={p["group"]: int(p["n"]) for p in d.get("participants") or []},
        said=tuple(d.get("said") or ()),
        village_no=d.get("village_no"),
        department=d.get("department"),
        case_ids=tuple(d.get("case_ids") or ()),
        categories=tuple(d.get("categories") or ()),
        project_ids=tuple(d.get("project_ids") or ()),
        minutes_case_id=d.get("minutes_case_id"),
        activity_id=d.get("activity_id"),
        recorded_by=d.get("recorded_by") or "",
        recorded_at=d.get("recorded_at") or "",
    )


class MongoConsultations:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._collection = db["insight_consultations"]
        self._store = AggregateStore(self._collection, publisher=None)

    async def ensure_indexes(self) -> None:
        await self._store.ensure_indexes(("org_id", "fiscal_year"))

    async def add(self, consultation: Consultation) -> bool:
        from shared.errors import ConcurrencyError

        try:
            await self._store.save(consultation_to_document(consultation), expected_version=0)
        except ConcurrencyError:
            return False
        return True

    async def find(self, org_id: str, fiscal_year: int | None = None) -> list[Consultation]:
        query: dict[str, Any] = {"org_id": org_id}
        if fiscal_year is not None:
            query["fiscal_year"] = fiscal_year
        found = [consultation_from_document(d) async for d in self._collection.find(query)]
        return sorted(found, key=lambda c: (c.held_on, c.consultation_id))


def plan_to_document(p: Plan) -> Document:
    return {
        "_id": p.plan_id,
        "org_id": p.org_id,
        "department": p.department,
        "fiscal_year": p.fiscal_year,
        "quarter": p.quarter,
        "findings": [
            {
                "id": f.finding_id,
                "text": f.text,
                "source": f.source,
                "metric": f.metric,
                "ref": f.ref,
            }
            for f in p.findings
        ],
        "actions": [
            {
                "id": a.action_id,
                "finding_id": a.finding_id,
                "text": a.text,
                "owner": a.owner,
                "due": a.due.isoformat(),
                "metric": a.metric,
                "expected": a.expected,
                "status": a.status,
                "followups": [
                    {"on": x.on.isoformat(), "note": x.note, "status": x.status}
                    for x in a.followups
                ],
            }
            for a in p.actions
        ],
    }


def plan_from_document(d: Document) -> Plan:
    return Plan(
        org_id=d["org_id"],
        department=d["department"],
        fiscal_year=int(d["fiscal_year"]),
        quarter=int(d["quarter"]),
        findings=tuple(
            Finding(f["id"], f["text"], f["source"], f.get("metric"), f.get("ref"))
            for f in d.get("findings") or []
        ),
        actions=tuple(
            Action(
                action_id=a["id"],
                finding_id=a["finding_id"],
                text=a["text"],
                owner=a["owner"],
                due=date.fromisoformat(a["due"]),
                metric=a["metric"],
                expected=a["expected"],
                status=a["status"],
                followups=tuple(
                    FollowUp(date.fromisoformat(x["on"]), x["note"], x["status"])
                    for x in a.get("followups") or []
                ),
            )
            for a in d.get("actions") or []
        ),
    )


class MongoPlans:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._collection = db["insight_plans"]
        self._store = AggregateStore(self._collection, publisher=None)

    async def ensure_indexes(self) -> None:
        await self._store.ensure_indexes(("org_id", "fiscal_year"))

    async def get(self, plan_id: str) -> tuple[Plan, int] | None:
        doc = await self._store.get(plan_id)
        return (plan_from_document(doc), int(doc.get("version", 0))) if doc else None

    async def save(self, plan: Plan, expected_version: int) -> int:
        return await self._store.save(plan_to_document(plan), expected_version=expected_version)

    async def find(self, org_id: str, fiscal_year: int | None = None) -> list[Plan]:
        query: dict[str, Any] = {"org_id": org_id}
        if fiscal_year is not None:
            query["fiscal_year"] = fiscal_year
        found = [plan_from_document(d) async for d in self._collection.find(query)]
        return sorted(found, key=lambda p: p.plan_id)
