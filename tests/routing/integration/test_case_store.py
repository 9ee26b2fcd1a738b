"""The case store's compare-and-set on FerretDB: one writer per version, even concurrently."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from services.routing.adapters.mongo_cases import MongoCaseRepository
from services.routing.domain.model import Case, Status
from services.routing.settings import RoutingSettings
from shared.errors import ConcurrencyError
from shared.mongo import create_client
from tests.fakes import FakePublisher

pytestmark = pytest.mark.integration


async def test_concurrent_writers_of_one_version_have_exactly_one_winner(
    real_settings: Any,
) -> None:
    settings = real_settings(RoutingSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    try:
        repo = MongoCaseRepository(client[settings.mongodb_database], FakePublisher())
        for n in range(15):
            case = Case(
                case_id=f"C-{n}",
                org_id="sraphonthong",
                kind="complaint",
                channel="web",
                text="x",
                received_at=datetime.now(UTC),
            )
            await repo.save(case, [])

            copies = [await repo.get(case.case_id) for _ in range(3)]

            async def write(mine: Case | None, status: Status) -> bool:
                assert mine is not None and mine.version == 1
                mine.status = status
                try:
                    await repo.save(mine, [])
                except ConcurrencyError:
                    return False
                return True

            wins = await asyncio.gather(
                *(
                    write(c, s)
                    for c, s in zip(
                        copies,
                        (Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED),
                        strict=True,
                    )
                )
            )
            assert wins.count(True) == 1, n
            stored = await repo.get(case.case_id)
            assert stored is not None and stored.version == 2
            assert stored.status in {Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED}
    finally:
        await client.close()
