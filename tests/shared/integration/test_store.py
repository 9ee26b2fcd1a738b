"""The aggregate store on real FerretDB: stored events survive a crash and go out once,
and a version moves once, with either compare-and-set: the native one (MongoDB's, which
our FerretDB build makes atomic and says so) and the claims (FerretDB as released)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import ConcurrencyError
from shared.events.cases import CaseCommandIssued, CaseCommandPayload
from shared.mongo import create_client
from shared.outbox import Emission
from shared.store import AggregateStore, Cas, server_of
from tests.fakes import FakePublisher

pytestmark = pytest.mark.integration


def command(n: int) -> Emission:
    event = CaseCommandIssued(
        org_id="sraphonthong",
        payload=CaseCommandPayload(case_id="SPT-2569-000001", action="note", command_id=f"c{n}"),
    )
    return Emission.of(event)


@pytest.mark.parametrize("cas", list(Cas))
async def test_events_left_by_a_crash_are_published_by_the_next_process(
    real_stack: Any, isolation: str, cas: Cas
) -> None:
    client = create_client(real_stack.mongodb_url, app_name="test")
    try:
        collection = client[f"ruam_{isolation}"]["aggregates"]
        down = FakePublisher(fail_next=1)
        crashed = AggregateStore(collection, down, cas=cas)
        await crashed.save({"_id": "a1", "n": 1}, expected_version=0, emissions=[command(1)])
        with pytest.raises(ConnectionError):
            await crashed.flush("a1")  # the broker was down; then the process died

        up = FakePublisher()
        restarted = AggregateStore(collection, up, cas=cas)
        assert await restarted.sweep() == 1  # the start-up look at the markers finds it
        assert await restarted.sweep() == 0  # and publishes it once
        assert await restarted.flush("a1") == 0  # a flush by id knows it is out
        assert [p.json()["payload"]["command_id"] for p in up.sent] == ["c1"]
        assert await collection.database["aggregates_pending"].count_documents({}) == 0

        with pytest.raises(ConcurrencyError):  # a stale writer cannot overwrite
            await restarted.save({"_id": "a1", "n": 2}, expected_version=0, emissions=[])
        version = await restarted.save(
            {"_id": "a1", "n": 2}, expected_version=1, emissions=[command(2)]
        )
        with pytest.raises(ConcurrencyError):
            await restarted.save({"_id": "a1", "n": 3}, expected_version=1, emissions=[])
        assert await restarted.flush("a1") == 1
        doc = await collection.find_one({"_id": "a1"})
        assert doc is not None and doc["n"] == 2 and doc["version"] == version == 2
        # Published events stay in the document until the next save leaves them out.
        assert ['"c2"' in i["value"] for i in doc["outbox"]] == [True]
        assert [p.json()["payload"]["command_id"] for p in up.sent] == ["c1", "c2"]

        fresh = AggregateStore(collection, up, cas=cas)  # knows nothing of what went out
        current = await fresh.get("a1")
        assert current is not None
        await fresh.save({"_id": "a1", "n": 4}, expected_version=2, emissions=[command(4)])
        assert await fresh.flush("a1") == 1
        doc = await collection.find_one({"_id": "a1"})
        assert doc is not None and len(doc["outbox"]) == 1
        assert [p.json()["payload"]["command_id"] for p in up.sent] == ["c1", "c2", "c4"]
    finally:
        await client.close()


@pytest.mark.parametrize("cas", list(Cas))
async def test_concurrent_writers_from_one_version_cannot_both_win(
    real_stack: Any, isolation: str, cas: Cas
) -> None:
    import asyncio

    client = create_client(real_stack.mongodb_url, app_name="test")
    try:
        collection = client[f"ruam_{isolation}"]["aggregates"]
        assert await server_of(collection.database) == (True, Cas.NATIVE)  # our build
        relay = AggregateStore(collection, FakePublisher(), cas=cas)
        await relay.save({"_id": "a1", "n": 0}, expected_version=0, emissions=[])
        # Writers of their own (as in separate processes): each sends its own requests.
        writers = [AggregateStore(collection, FakePublisher(), cas=cas) for _ in range(4)]
        for round_ in range(5):
            current = await collection.find_one({"_id": "a1"})
            assert current is not None
            results = await asyncio.gather(
                *(
                    writers[w].save(
                        {"_id": "a1", "n": round_ * 10 + w},
                        expected_version=current["version"],
                        emissions=[command(round_ * 10 + w)],
                    )
                    for w in range(4)
                ),
                return_exceptions=True,
            )
            winners = [r for r in results if not isinstance(r, BaseException)]
            assert len(winners) == 1, results
            assert all(isinstance(r, ConcurrencyError) for r in results if r not in winners)
    finally:
        await client.close()


@pytest.mark.parametrize("cas", list(Cas))
async def test_a_late_flush_never_moves_an_aggregate_back(
    real_stack: Any, isolation: str, cas: Cas
) -> None:
    """A flush that learnt of version 1 arrives after the aggregate reached version 3."""
    client = create_client(real_stack.mongodb_url, app_name="test")
    try:
        collection = client[f"ruam_{isolation}"]["aggregates"]
        late = AggregateStore(collection, FakePublisher(), cas=cas)
        await late.save({"_id": "a1", "n": 1}, expected_version=0, emissions=[command(1)])
        other = AggregateStore(collection, FakePublisher(), cas=cas)
        assert await other.flush("a1") == 1  # publishing writes no version
        await other.save({"_id": "a1", "n": 2}, expected_version=1, emissions=[command(2)])
        await other.save({"_id": "a1", "n": 3}, expected_version=2, emissions=[command(3)])
        assert await late.flush("a1") == 1  # publishes what it knew: harmless duplicate
        doc = await collection.find_one({"_id": "a1"})
        assert doc is not None
        assert doc["version"] == 3 and doc["n"] == 3
        # c2 and c3 are still to publish, and marked so
        assert ['"c2"' in i["value"] or '"c3"' in i["value"] for i in doc["outbox"]] == [
            True,
            True,
        ]
        assert await other.flush("a1") == 2
    finally:
        await client.close()


async def test_a_writer_that_fails_after_its_claim_frees_the_version(
    real_stack: Any, isolation: str
) -> None:
    """A write refused by the server (too large) must not lock the aggregate for 30 s."""
    client = create_client(real_stack.mongodb_url, app_name="test")
    try:
        collection = client[f"ruam_{isolation}"]["aggregates"]
        store = AggregateStore(collection, FakePublisher(), cas=Cas.CLAIMS)
        await store.save({"_id": "a1", "n": 1}, expected_version=0)
        with pytest.raises(Exception) as failed:
            await store.save({"_id": "a1", "blob": "x" * (17 * 1024 * 1024)}, expected_version=1)
        assert not isinstance(failed.value, ConcurrencyError)
        assert await store.save({"_id": "a1", "n": 2}, expected_version=1) == 2
    finally:
        await client.close()


@pytest.mark.parametrize("cas", list(Cas))
async def test_a_marker_of_a_version_never_written_is_dropped_once_old(
    real_stack: Any, isolation: str, cas: Cas
) -> None:
    """A writer marked version 2 and died before writing it: nothing to publish, and the
    marker goes once it is older than any live writer could be."""
    from datetime import UTC, datetime, timedelta

    client = create_client(real_stack.mongodb_url, app_name="test")
    try:
        collection = client[f"ruam_{isolation}"]["aggregates"]
        markers = collection.database["aggregates_pending"]
        first = FakePublisher()
        store = AggregateStore(collection, first, cas=cas)
        await store.save({"_id": "a1", "n": 1}, expected_version=0, emissions=[command(1)])
        assert await store.flush("a1") == 1
        at = datetime.now(UTC)
        await markers.insert_one({"_id": "a1#2", "doc": "a1", "v": 2, "at": at})

        later = FakePublisher()
        restarted = AggregateStore(collection, later, cas=cas, look_every=3600)
        assert await restarted.sweep() == 0
        assert await markers.count_documents({}) == 1  # young: maybe a live writer's

        await markers.update_one({"_id": "a1#2"}, {"$set": {"at": at - timedelta(minutes=5)}})
        looking = AggregateStore(collection, later, cas=cas, look_every=0)
        assert await looking.sweep() == 0
        assert await markers.count_documents({}) == 0
        assert later.sent == []
    finally:
        await client.close()
