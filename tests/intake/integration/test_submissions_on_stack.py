"""Intake's submissions on the real FerretDB: a new case's lookup key (case id -> record)
goes out with its events, and a case whose key a crash lost is still found by its id."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.adapters.mongo_submissions import MongoSubmissionRepository
from services.intake.domain.model import Submission
from services.intake.domain.record import SubmissionRecord
from services.intake.settings import IntakeSettings
from shared.events.cases import Channel
from shared.mongo import create_client
from shared.outbox import Emission
from tests.fakes import FakePublisher
from tests.intake.unit.helpers import NOW

pytestmark = pytest.mark.integration


def new_case(n: int) -> tuple[SubmissionRecord, list[Emission]]:
    sub = Submission(channel=Channel.LINE, text=f"ไฟดับ หมู่ {n}", channel_message_id=f"m{n}")
    record, events = SubmissionRecord.receive(
        sub,
        dedup_key=f"line:m{n}",
        case_id=f"SPT-2569-{n:06d}",
        received_at=NOW,
        stored_at=NOW,
        contact_ref=None,
        text_ref=f"tx_{n}",
        org_id="sraphonthong",
        correlation_id=None,
    )
    return record, [Emission.of(e) for e in events]


async def test_a_case_is_found_by_its_id_after_its_flush_and_after_a_crash(
    real_settings: Any,
) -> None:
    settings = real_settings(IntakeSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    try:
        db = client[settings.mongodb_database]
        publisher = FakePublisher()
        repo = MongoSubmissionRepository(db, publisher)
        await repo.ensure_indexes()

        record, emissions = new_case(1)
        assert await repo.add(record, emissions)
        assert await repo.flush(record.dedup_key) == len(emissions)
        assert len(publisher.sent) == len(emissions)
        key = await db["submission_keys"].find_one({"_id": "case:SPT-2569-000001"})
        assert key is not None and key["key"] == "line:m1"
        # Another replica (or this one restarted) reads the key, not the collection.
        other = MongoSubmissionRepository(db, FakePublisher())
        found = await other.get_case("SPT-2569-000001")
        assert found is not None and found.dedup_key == "line:m1"
        assert await other.flush(record.dedup_key) == 0  # its events went out already

        # Saved, then the process died before its flush: no key was written...
        crashed, emissions = new_case(2)
        assert await repo.add(crashed, emissions)
        assert await db["submission_keys"].find_one({"_id": "case:SPT-2569-000002"}) is None
        # ...its successor finds the case by its id all the same, and files the key.
        successor = MongoSubmissionRepository(db, publisher)
        found = await successor.get_case("SPT-2569-000002")
        assert found is not None and found.dedup_key == "line:m2"
        key = await db["submission_keys"].find_one({"_id": "case:SPT-2569-000002"})
        assert key is not None and key["key"] == "line:m2"
    finally:
        await client.close()
