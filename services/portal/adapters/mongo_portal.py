"""The read model in MongoDB: `portal_cases`, `portal_projects`, `portal_facts`, one
document per projection (its JSON as a string: the projections are only ever read whole),
written through the shared store's compare-and-set; and `portal_photos`, the web form's
cleaned photos."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from bson import Binary
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from services.portal.domain.model import Case, Fact, Project, newer_case, newer_project
from shared.errors import ConcurrencyError
from shared.mongo import Document, is_duplicate_key
from shared.store import AggregateStore

M = TypeVar("M", bound=BaseModel)


class MongoReadStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        # No publisher: the read model emits nothing.
        self._cases = AggregateStore(db["portal_cases"], None)
        self._projects = AggregateStore(db["portal_projects"], None)
        self._facts = AggregateStore(db["portal_facts"], None)

    async def save_case(self, case: Case) -> bool:
        doc = await self._cases.get(case.case_id)
        current = Case.model_validate_json(doc["json"]) if doc else None
        if not newer_case(current, case):
            return False
        return await self._save(self._cases, case.case_id, case, doc)

    async def save_project(self, project: Project) -> bool:
        doc = await self._projects.get(project.project_id)
        current = Project.model_validate_json(doc["json"]) if doc else None
        if not newer_project(current, project):
            return False
        return await self._save(self._projects, project.project_id, project, doc)

    async def save_fact(self, fact: Fact) -> bool:
        try:
            await self._facts.save(
                {"_id": fact.fact_id, "json": fact.model_dump_json()}, expected_version=0
            )
        except ConcurrencyError:
            return False  # counted before: a fact never changes
        return True

    @staticmethod
    async def _save(
        store: AggregateStore, key: str, model: BaseModel, doc: Document | None
    ) -> bool:
        # A concurrent writer (a second replica) raises ConcurrencyError: the consumer tries
        # the message again, and the comparison above then decides on what that one kept.
        await store.save(
            {"_id": key, "json": model.model_dump_json()},
            expected_version=int(doc["version"]) if doc else 0,
        )
        return True

    async def load(self) -> tuple[list[Case], list[Project], list[Fact]]:
        return (
            await _all(self._cases, Case),
            await _all(self._projects, Project),
            await _all(self._facts, Fact),
        )


async def _all(store: AggregateStore, model: type[M]) -> list[M]:
    # Once, at start: the site answers from memory afterwards.
    return [
        model.model_validate_json(doc["json"])
        async for doc in store.collection.find({}, {"json": 1})
    ]


class MongoPhotoStore:
    """Photos from the web form, their metadata stripped, for the officer who takes the case."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._photos = db["portal_photos"]

    async def keep(self, photo_id: str, jpeg: bytes) -> str:
        try:
            await self._photos.insert_one(
                {"_id": photo_id, "data": Binary(jpeg), "stored_at": datetime.now(UTC)}
            )
        except Exception as exc:
            if not is_duplicate_key(exc):  # the same photo sent again: kept already
                raise
        return f"portal-photo:{photo_id}"

    async def link(self, photo_id: str, case_id: str) -> None:
        await self._photos.update_one({"_id": photo_id}, {"$set": {"case_id": case_id}})

    async def get(self, photo_id: str) -> tuple[bytes, str | None] | None:
        doc = await self._photos.find_one({"_id": photo_id})
        if doc is None:
            return None
        return bytes(doc["data"]), doc.get("case_id")

    async def purge(self, kept_since: datetime) -> int:
        """Delete the photos stored before `kept_since`. A filter on `stored_at` reads the
        whole (small) collection: an hourly housekeeping round, never a per-request path."""
        result = await self._photos.delete_many({"stored_at": {"$lt": kept_since}})
        return int(result.deleted_count)
