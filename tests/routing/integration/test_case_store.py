"""The case store's compare-and-set on FerretDB: one writer per version, even concurrently."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.routing.adapters.mongo_cases import MongoCaseRepository, only_open, query
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


async def test_a_work_queue_is_answered_from_the_working_set_as_case_index_would(
    real_settings: Any,
) -> None:
    settings = real_settings(RoutingSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    try:
        db = client[settings.mongodb_database]
        repo = MongoCaseRepository(db, FakePublisher())
        start = datetime(2026, 11, 1, tzinfo=UTC)
        plan = [
            ("eng", "eng-a", Status.ASSIGNED),
            ("eng", "eng-a", Status.ACKNOWLEDGED),
            ("eng", "eng-b", Status.IN_PROGRESS),
            ("eng", "eng-a", Status.RESOLVED),
            ("fin", "fin-a", Status.ASSIGNED),
            ("eng", "eng-a", Status.PENDING_CITIZEN),
        ]
        for n, (department, officer, status) in enumerate(plan):
            case = Case(
                case_id=f"Q-{n}",
                org_id="sraphonthong",
                kind="complaint",
                channel="web",
                text="ถนนพัง",
                received_at=start + timedelta(hours=10 - n),  # newer first: order is by receipt
                department=department,
                officer_id=officer,
                status=status,
                respond_due_at=start + timedelta(days=n),
            )
            await repo.save(case, [])
        # A second process's view: its working set read from case_index at start.
        other = MongoCaseRepository(db, FakePublisher())
        await other.reload_open()
        queues: list[dict[str, Any]] = [
            {
                "officer_id": "eng-a",
                "status": {"$in": ["assigned", "acknowledged", "pending_citizen"]},
            },
            {"department": "eng", "status": "in_progress"},
            {"org_id": "sraphonthong", "status": {"$in": ["assigned"]}},
        ]
        at = start + timedelta(days=2, hours=1)
        for filters in queues:
            assert only_open(filters)
            for overdue_at in (None, at):
                from_db = [
                    d async for d in db["case_index"].find(query(filters, overdue_at), {"text": 0})
                    .sort([("received_at", 1), ("_id", 1)])
                ]  # fmt: skip
                for r in (repo, other):
                    assert await r.summaries(filters, 50, 0, overdue_at=overdue_at) == from_db
                    assert await r.count(filters, overdue_at=overdue_at) == len(from_db)
        assert [r["_id"] for r in await repo.summaries(queues[0], 2, 1)] == ["Q-1", "Q-0"]
        assert not only_open({"status": "resolved"}) and not only_open({"officer_id": "eng-a"})
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()


async def test_attachments_and_the_cause_survive_the_store(real_settings: Any) -> None:
    from services.routing.domain.model import Attachment

    settings = real_settings(RoutingSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    try:
        repo = MongoCaseRepository(client[settings.mongodb_database], FakePublisher())
        case = Case(
            case_id="C-files",
            org_id="sraphonthong",
            kind="complaint",
            channel="letter",
            text="x",
            received_at=datetime.now(UTC),
        )
        case.attach([Attachment("document", "console-scan:abc"), Attachment("image", "line:m/1")])
        case.cause, case.cause_note = "blocked_drain", "ท่ออุดตันด้วยใบไม้"
        await repo.save(case, [])
        stored = await repo.get("C-files")
        assert stored is not None
        assert stored.attachments == case.attachments
        assert (stored.cause, stored.cause_note) == ("blocked_drain", "ท่ออุดตันด้วยใบไม้")
    finally:
        await client.close()
