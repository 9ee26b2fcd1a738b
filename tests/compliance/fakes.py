from __future__ import annotations

from collections.abc import Sequence

from services.compliance.domain.model import Project
from services.compliance.ports import AuditQuery, ProjectQuery
from shared.events.audit import AuditPayload
from shared.outbox import Emission
from tests.fakes import FakePublisher, OutboxStore


class FakeProjectRepository:
    def __init__(self, publisher: FakePublisher | None = None) -> None:
        self.publisher = publisher or FakePublisher()
        self.store = OutboxStore(self.publisher)

    async def get(self, project_id: str) -> Project | None:
        project = self.store.load(project_id)
        if project is not None:
            project.version = self.store.docs[project_id]["version"]
        return project  # type: ignore[no-any-return]

    async def save(self, project: Project, emissions: Sequence[Emission]) -> None:
        project.version = self.store.save(project.project_id, project, project.version, emissions)

    async def flush(self, project_id: str) -> int:
        return await self.store.flush(project_id)

    async def sweep(self) -> int:
        return await self.store.sweep()

    def _all(self) -> list[Project]:
        return [p for p in (self.store.load(k) for k in sorted(self.store.docs)) if p.registered]

    async def find(self, query: ProjectQuery, limit: int, offset: int) -> list[Project]:
        found = [
            p
            for p in self._all()
            if (
                query.requires_participation is None
                or p.requires_participation == query.requires_participation
            )
            and (query.fiscal_year is None or p.fiscal_year == query.fiscal_year)
            and (query.stage is None or p.stage.value == query.stage)
            and (query.org_id is None or p.org_id == query.org_id)
        ]
        return found[offset : offset + limit]

    async def with_open_requirements(self, limit: int) -> list[str]:
        return [p.project_id for p in self._all() if p.open_requirements()][:limit]

    async def count(self, query: ProjectQuery, *, with_violations: bool = False) -> int:
        found = await self.find(query, 10**9, 0)
        return len([p for p in found if p.violations or not with_violations])

    async def violations(self) -> int:
        return sum(len(p.violations) for p in await self.find(ProjectQuery(), 10**9, 0))


class FakeAuditTrail:
    """The audit trail in memory, with the real store's rules: one record per id, newest
    first."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[str, AuditPayload]] = {}

    async def keep(self, org_id: str, record: AuditPayload) -> bool:
        if record.record_id in self.records:
            return False
        self.records[record.record_id] = (org_id, record)
        return True

    async def find(self, query: AuditQuery, limit: int, offset: int) -> list[AuditPayload]:
        found = [
            r
            for org, r in self.records.values()
            if org == query.org_id
            and all(
                getattr(query, f) is None or getattr(r, f) == getattr(query, f)
                for f in ("action", "target", "subject")
            )
        ]
        found.sort(key=lambda r: (r.at, r.record_id), reverse=True)
        return found[offset : offset + limit]
