"""The project register in MongoDB (collection `projects`, one document per project).

Dates (not datetimes) are kept as ISO strings: BSON has no date-only type, and the
strings sort like the dates. Parked early events are sub-documents holding the raw
event JSON as a string.

Every write of a project is a compare-and-set on its stored `version`, through the
shared store (`shared.store.AggregateStore`), whose claims make it atomic on FerretDB
too: here the Kafka consumer, HTTP requests and the timer loop may all write one project.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.compliance.domain.model import (
    DueWarning,
    Participation,
    Pending,
    Project,
    Requirement,
    RequirementStatus,
    Source,
    TimelineEntry,
    Violation,
)
from services.compliance.ports import ProjectQuery
from shared.events.compliance import Stage
from shared.mongo import Document
from shared.outbox import Emission, RawPublisher
from shared.store import AggregateStore


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def to_document(p: Project) -> Document:
    return {
        "_id": p.project_id,
        "org_id": p.org_id,
        "source": p.source.value,
        "registered": p.registered,
        "name": p.name,
        "fiscal_year": p.fiscal_year,
        "budget_satang": p.budget_satang,
        "funding_source": p.funding_source,
        "key_policy": p.key_policy,
        "key_mission": p.key_mission,
        "stage": p.stage.value,
        "planned_procurement_date": _day(p.planned_procurement_date),
        "registration_fingerprint": p.registration_fingerprint,
        "applied_version": p.applied_version,
        "pending": [
            {"version": x.version, "event_id": x.event_id, "body": x.body} for x in p.pending
        ],
        "applied_event_ids": list(p.applied_event_ids),
        "requirements": [
            {
                "kind": r.kind,
                "due_stage": r.due_stage.value,
                "due": r.due,
                "severity": r.severity,
                "status": r.status.value,
                "raised_at": r.raised_at,
                "reasons": list(r.reasons),
                "met_by": r.met_by,
                "met_at": r.met_at,
                "waiver_reason": r.waiver_reason,
                "waiver_authority": r.waiver_authority,
                "waived_at": r.waived_at,
            }
            for r in p.requirements
        ],
        "evidence": [
            {
                "record_id": e.record_id,
                "kind": e.kind,
                "held_on": e.held_on.isoformat(),
                "participants": dict(e.participants),
                "evidence_ref": e.evidence_ref,
                "issues": list(e.issues),
                "results": e.results,
                "changes": e.changes,
                "recorded_at": e.recorded_at,
                "recorded_by": e.recorded_by,
            }
            for e in p.evidence
        ],
        "violations": [v.as_dict() for v in p.violations],
        "warnings": [w.as_dict() for w in p.warnings],
        "timeline": [
            {
                "seq": t.seq,
                "at": t.at,
                "action": t.action,
                "source": t.source.value,
                "summary": t.summary,
                "version": t.version,
                "event_id": t.event_id,
                "refused": t.refused,
            }
            for t in p.timeline
        ],
        "completed_at": p.completed_at,
        "registered_at": p.registered_at,
        "updated_at": p.updated_at,
        # Derived, for queries: FerretDB indexes and filters top-level fields best.
        "requires_participation": p.requires_participation,
        "has_open_requirements": bool(p.open_requirements()),
        "violation_count": len(p.violations),
    }


def from_document(doc: Document) -> Project:
    return Project(
        project_id=doc["_id"],
        org_id=doc["org_id"],
        source=Source(doc["source"]),
        registered=doc.get("registered", False),
        name=doc.get("name", ""),
        fiscal_year=doc.get("fiscal_year", 0),
        budget_satang=doc.get("budget_satang", 0),
        funding_source=doc.get("funding_source", ""),
        key_policy=doc.get("key_policy", False),
        key_mission=doc.get("key_mission", False),
        stage=Stage(doc.get("stage", Stage.PLANNING.value)),
        planned_procurement_date=_parse_day(doc.get("planned_procurement_date")),
        registration_fingerprint=doc.get("registration_fingerprint"),
        applied_version=doc.get("applied_version", 0),
        pending=[Pending(x["version"], x["event_id"], x["body"]) for x in doc.get("pending", [])],
        applied_event_ids=list(doc.get("applied_event_ids", [])),
        requirements=[
            Requirement(
                kind=r["kind"],
                due_stage=Stage(r["due_stage"]),
                due=r["due"],
                severity=r["severity"],
                status=RequirementStatus(r["status"]),
                raised_at=r["raised_at"],
                reasons=list(r.get("reasons", [])),
                met_by=r.get("met_by"),
                met_at=r.get("met_at"),
                waiver_reason=r.get("waiver_reason"),
                waiver_authority=r.get("waiver_authority"),
                waived_at=r.get("waived_at"),
            )
            for r in doc.get("requirements", [])
        ],
        evidence=[
            Participation(
                record_id=e["record_id"],
                kind=e["kind"],
                held_on=date.fromisoformat(e["held_on"]),
                participants=dict(e.get("participants", {})),
                evidence_ref=e["evidence_ref"],
                issues=list(e.get("issues", [])),
                results=e["results"],
                changes=e["changes"],
                recorded_at=e["recorded_at"],
                recorded_by=e.get("recorded_by"),
            )
            for e in doc.get("evidence", [])
        ],
        violations=[
            Violation(
                code=v["code"],
                requirement=v["requirement"],
                severity=v["severity"],
                stage=Stage(v["stage"]),
                at=v["at"],
                message=v["message"],
            )
            for v in doc.get("violations", [])
        ],
        warnings=[DueWarning(**w) for w in doc.get("warnings", [])],
        timeline=[
            TimelineEntry(
                seq=t["seq"],
                at=t["at"],
                action=t["action"],
                source=Source(t["source"]),
                summary=t["summary"],
                version=t.get("version"),
                event_id=t.get("event_id"),
                refused=t.get("refused", False),
            )
            for t in doc.get("timeline", [])
        ],
        completed_at=doc.get("completed_at"),
        registered_at=doc.get("registered_at"),
        updated_at=doc.get("updated_at"),
        version=doc.get("version", 0),
    )


def query_filter(query: ProjectQuery) -> Document:
    filters: Document = {"registered": True}
    if query.requires_participation is not None:
        filters["requires_participation"] = query.requires_participation
    if query.fiscal_year is not None:
        filters["fiscal_year"] = query.fiscal_year
    if query.stage is not None:
        filters["stage"] = query.stage
    if query.org_id is not None:
        filters["org_id"] = query.org_id
    return filters


class MongoProjectRepository:
    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._projects = db["projects"]
        self._relay = AggregateStore(self._projects, publisher)

    async def ensure_indexes(self) -> None:
        await self._relay.ensure_indexes(
            ("fiscal_year", "requires_participation"), "has_open_requirements"
        )

    # -- ProjectRepository -------------------------------------------------------------

    async def get(self, project_id: str) -> Project | None:
        doc = await self._relay.get(project_id)
        return from_document(doc) if doc else None

    async def save(self, project: Project, emissions: Sequence[Emission]) -> None:
        project.version = await self._relay.save(
            to_document(project), expected_version=project.version, emissions=list(emissions)
        )

    async def flush(self, project_id: str) -> int:
        return await self._relay.flush(project_id)

    async def sweep(self) -> int:
        return await self._relay.sweep()

    async def find(self, query: ProjectQuery, limit: int, offset: int) -> list[Project]:
        cursor = (
            self._projects.find(query_filter(query), {"outbox": 0})
            .sort([("fiscal_year", ASCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [from_document(doc) async for doc in cursor]

    async def with_open_requirements(self, limit: int) -> list[str]:
        cursor = self._projects.find(
            {"registered": True, "has_open_requirements": True}, {"_id": 1}
        ).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def violations(self) -> int:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"registered": True, "violation_count": {"$gt": 0}}},
            {"$group": {"_id": None, "n": {"$sum": "$violation_count"}}},
        ]
        async for row in await self._projects.aggregate(pipeline):
            return int(row["n"])
        return 0

    async def count(self, query: ProjectQuery, *, with_violations: bool = False) -> int:
        filters: dict[str, Any] = query_filter(query)
        if with_violations:
            filters["violation_count"] = {"$gt": 0}
        return await self._projects.count_documents(filters)
