from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.routing.domain.model import Case
from shared.outbox import Emission
from tests.fakes import FakePublisher, OutboxStore


class FakeCaseRepository:
    def __init__(self, publisher: FakePublisher | None = None) -> None:
        self.publisher = publisher or FakePublisher()
        self.store = OutboxStore(self.publisher)

    async def get(self, case_id: str) -> Case | None:
        case = self.store.load(case_id)
        if case is not None:
            case.version = self.store.docs[case_id]["version"]
        return case  # type: ignore[no-any-return]

    async def save(self, case: Case, emissions: Sequence[Emission]) -> None:
        case.version = self.store.save(case.case_id, case, case.version, emissions)

    async def flush(self, case_id: str) -> int:
        return await self.store.flush(case_id)

    async def sweep(self) -> int:
        return await self.store.sweep()

    async def find(self, filters: dict[str, Any], limit: int, offset: int) -> list[Case]:
        found = [
            c for c in (self.store.load(k) for k in self.store.docs)
            if all(str(getattr(c, f, None)) == str(v) for f, v in filters.items())
        ]
        return found[offset : offset + limit]
