"""What compliance's handlers need from the outside world, as protocols.

Adapters implement them on MongoDB and Kafka; tests implement them with fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.compliance.domain.model import Project
from shared.events.audit import AuditPayload
from shared.outbox import Emission


@dataclass(frozen=True)
class ProjectQuery:
    requires_participation: bool | None = None
    fiscal_year: int | None = None
    stage: str | None = None
    org_id: str | None = None


class ProjectRepository(Protocol):
    async def get(self, project_id: str) -> Project | None: ...

    async def save(self, project: Project, emissions: Sequence[Emission]) -> None:
        """Store the project with the events it produced, in one atomic write.

        A new project (revision 0) is inserted; a known one is replaced iff its revision
        did not move since it was loaded (ConcurrencyError otherwise). Bumps revision.
        """

    async def flush(self, project_id: str) -> int:
        """Publish the project's stored-but-unpublished events; returns how many."""

    async def sweep(self) -> int:
        """Flush every project that still has unpublished events."""

    async def find(self, query: ProjectQuery, limit: int, offset: int) -> list[Project]:
        """Registered projects matching the query, in a stable order."""

    async def with_open_requirements(self, limit: int) -> list[str]:
        """Ids of registered projects with at least one open requirement (timer checks)."""

    async def count(self, query: ProjectQuery, *, with_violations: bool = False) -> int: ...

    async def violations(self) -> int:
        """Participation violations recorded on registered projects, all told."""


@dataclass(frozen=True)
class AuditQuery:
    org_id: str
    action: str | None = None
    target: str | None = None
    subject: str | None = None


class AuditTrailStore(Protocol):
    """The audit trail: append-only, one record per id (a redelivered record is kept once)."""

    async def keep(self, org_id: str, record: AuditPayload) -> bool:
        """True if the record was new."""

    async def find(self, query: AuditQuery, limit: int, offset: int) -> list[AuditPayload]:
        """Newest first."""
