"""The project register in MongoDB (collection `projects`, one document per project).

Dates (not datetimes) are kept as ISO strings: BSON has no date-only type, and the
strings sort like the dates. Parked early events are sub-documents holding the raw
event JSON as a string.

Every write of a project is a compare-and-set on its revision, guarded by a claim:
inserting `<project id>#<revision>` into `project_claims`, whose unique _id lets
exactly one writer move a project on from a given revision. A version filter alone is
not atomic on FerretDB v1 (SQLite): routing measured two concurrent
`replace_one({"_id": x, "version": v})` both matching, and a concurrent `$set` undoing
a replace. Here the Kafka consumer, HTTP requests and the timer loop may all write one
project. A claim left by a writer that died mid-write expires after CLAIM_TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
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
from shared.errors import ConcurrencyError
from shared.events.compliance import Stage
from shared.mongo import Document, is_duplicate_key
from shared.outbox import Emission, RawPublisher
from shared.topics import Topic

CLAIM_TTL = timedelta(seconds=30)


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
        "violations": [
            {
                "code": v.code,
                "requirement": v.requirement,
                "severity": v.severity,
                "stage": v.stage.value,
                "at": v.at,
                "message": v.message,
            }
            for v in p.violations
        ],
        "warnings": [
            {"code": w.code, "requirement": w.requirement, "at": w.at, "message": w.message}
            for w in p.warnings
        ],
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
        revision=doc.get("version", 0),
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
        self._claims = db["project_claims"]
        self._publisher = publisher

    async def ensure_indexes(self) -> None:
        await self._projects.create_index([("outbox_pending", ASCENDING)])
        await self._projects.create_index(
            [("fiscal_year", ASCENDING), ("requires_participation", ASCENDING)]
        )
        await self._projects.create_index([("has_open_requirements", ASCENDING)])

    # -- the guarded compare-and-set ------------------------------------------------

    async def _claim(self, project_id: str, revision: int) -> str:
        claim_id = f"{project_id}#{revision}"
        token = uuid.uuid4().hex
        for _ in range(2):
            try:
                await self._claims.insert_one(
                    {"_id": claim_id, "at": datetime.now(UTC), "by": token}
                )
                return token
            except asyncio.CancelledError:
                # The insert may have landed: drop it if it is ours, or it blocks the
                # project for CLAIM_TTL after a plain shutdown.
                await asyncio.shield(self._claims.delete_one({"_id": claim_id, "by": token}))
                raise
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
            held = await self._claims.find_one({"_id": claim_id})
            if held is None or datetime.now(UTC) - held["at"] < CLAIM_TTL:
                break
            # The writer that took it died before finishing: take the revision over.
            await self._claims.delete_one({"_id": claim_id, "at": held["at"]})
        raise ConcurrencyError(f"{project_id} is being changed from revision {revision}")

    async def _replace(self, project_id: str, revision: int, body: Document) -> None:
        """Move the project from `revision` to revision + 1, or raise ConcurrencyError."""
        token = await self._claim(project_id, revision)
        body = {**body, "version": revision + 1}
        try:
            result = await self._projects.replace_one(
                {"_id": project_id, "version": revision}, body
            )
        except BaseException:
            # Interrupted (shutdown, lost connection): free the revision at once instead
            # of after CLAIM_TTL. Harmless if the replace did land: the project moved on.
            await asyncio.shield(
                self._claims.delete_one({"_id": f"{project_id}#{revision}", "by": token})
            )
            raise
        if result.matched_count == 0:
            raise ConcurrencyError(f"{project_id} is not at revision {revision}")
        # Nobody can move on from an older revision any more: its claim is not needed.
        await self._claims.delete_one({"_id": f"{project_id}#{revision - 1}"})

    # -- ProjectRepository -------------------------------------------------------------

    async def get(self, project_id: str) -> Project | None:
        doc = await self._projects.find_one({"_id": project_id}, {"outbox": 0})
        return from_document(doc) if doc else None

    async def save(self, project: Project, emissions: Sequence[Emission]) -> None:
        items = [e.to_item() for e in emissions]
        body = to_document(project)
        if project.revision == 0:
            body.update(version=1, outbox=items, outbox_pending=bool(items))
            try:
                await self._projects.insert_one(body)
            except Exception as exc:
                if is_duplicate_key(exc):
                    raise ConcurrencyError(f"{project.project_id} already exists") from exc
                raise
            project.revision = 1
            return
        current = await self._projects.find_one(
            {"_id": project.project_id, "version": project.revision}, {"outbox": 1}
        )
        if current is None:
            raise ConcurrencyError(f"{project.project_id} is not at revision {project.revision}")
        pending = list(current.get("outbox") or []) + items
        body.update(outbox=pending, outbox_pending=bool(pending))
        await self._replace(project.project_id, project.revision, body)
        project.revision += 1

    async def flush(self, project_id: str) -> int:
        """Publish the project's pending events, then clear them (unless it changed
        meanwhile: the next flush then republishes, which consumers absorb by event id)."""
        doc = await self._projects.find_one({"_id": project_id})
        if not doc or not doc.get("outbox"):
            return 0
        sent = len(doc["outbox"])
        for item in doc["outbox"]:
            await self._publisher.publish_raw(
                Topic(item["topic"]), item.get("key"), item["value"].encode("utf-8")
            )
        revision = doc.pop("version")
        doc.update(outbox=[], outbox_pending=False)
        with contextlib.suppress(ConcurrencyError):
            await self._replace(project_id, revision, doc)
        return sent

    async def sweep(self, limit: int = 500) -> int:
        published = 0
        cursor = self._projects.find({"outbox_pending": True}, {"_id": 1}).limit(limit)
        async for doc in cursor:
            published += await self.flush(doc["_id"])
        return published

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

    async def count(self, query: ProjectQuery, *, with_violations: bool = False) -> int:
        filters: dict[str, Any] = query_filter(query)
        if with_violations:
            filters["violation_count"] = {"$gt": 0}
        return await self._projects.count_documents(filters)
