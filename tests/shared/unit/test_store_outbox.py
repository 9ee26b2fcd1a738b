"""The aggregate store's outbox: events saved with their aggregate go out once, marked per
version in `<collection>_pending` until they are out, and what a crash left behind is
published by the next process's sweep."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from shared.events.cases import CaseCommandIssued, CaseCommandPayload
from shared.mongo import Document
from shared.outbox import Emission
from shared.store import CLAIM_TTL, AggregateStore, Cas, change, recovered_by_redelivery
from shared.topics import Topic
from tests.fakes import FakePublisher
from tests.shared.unit.fakes_mongo import FakeCollection, fake_collection

pytestmark = pytest.mark.parametrize("cas", list(Cas))


def command(name: str, case_id: str = "SPT-2569-000001") -> Emission:
    payload = CaseCommandPayload(case_id=case_id, action="note", command_id=name)
    return Emission.of(CaseCommandIssued(org_id="sraphonthong", payload=payload))


def sent(publisher: FakePublisher) -> list[str]:
    return [p.json()["payload"]["command_id"] for p in publisher.sent]


def markers(fake: FakeCollection) -> FakeCollection:
    return fake.database[f"{fake.name}_pending"]


def in_outbox(fake: FakeCollection, doc_id: str) -> list[str]:
    items = fake.docs[doc_id]["outbox"]
    return [CaseCommandIssued.model_validate_json(i["value"]).payload.command_id for i in items]


def age_markers(fake: FakeCollection) -> None:
    """As if the markers were written longer ago than a claim lives."""
    for marker in markers(fake).docs.values():
        marker["at"] = datetime.now(UTC) - CLAIM_TTL - timedelta(seconds=1)


Projection = Callable[[Document], Awaitable[None]]


def projections() -> tuple[Projection, Projection, list[tuple[str, int]]]:
    """A projection that dies before it writes, one that writes, and what was written."""
    projected: list[tuple[str, int]] = []

    async def crash(doc: Document) -> None:
        raise AutoReconnect("the process died before its projection")

    async def project(doc: Document) -> None:
        projected.append((doc["_id"], doc["version"]))

    return crash, project, projected


async def test_a_flush_publishes_each_event_once_and_keeps_the_version(cas: Cas) -> None:
    fake, collection = fake_collection()
    publisher = FakePublisher()
    store = AggregateStore(collection, publisher, cas=cas)
    await store.save({"_id": "a1"}, expected_version=0, emissions=[command("c1"), command("c2")])
    assert sent(publisher) == [] and list(markers(fake).docs) == ["a1#1"]
    assert await store.flush("a1") == 2
    assert sent(publisher) == ["c1", "c2"]
    assert publisher.sent[0].topic == Topic.CASE_COMMANDS.value
    assert publisher.sent[0].key == "SPT-2569-000001"
    assert markers(fake).docs == {}
    assert fake.docs["a1"]["version"] == 1  # publishing is no version step
    assert await store.flush("a1") == 0
    assert await AggregateStore(collection, publisher, cas=cas).flush("a1") == 0
    assert await store.sweep() == 0
    assert sent(publisher) == ["c1", "c2"]


async def test_a_save_after_a_flush_leaves_the_published_events_out(cas: Cas) -> None:
    fake, collection = fake_collection()
    publisher = FakePublisher()
    store = AggregateStore(collection, publisher, cas=cas)
    await store.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    await store.flush("a1")
    assert in_outbox(fake, "a1") == ["c1"]  # kept until the next save
    assert await store.save({"_id": "a1"}, expected_version=1, emissions=[command("c2")]) == 2
    assert in_outbox(fake, "a1") == ["c2"]
    await store.flush("a1")
    fresh = AggregateStore(collection, publisher, cas=cas)  # knows nothing of what went out
    assert await fresh.get("a1") is not None
    assert await fresh.save({"_id": "a1"}, expected_version=2, emissions=[command("c3")]) == 3
    assert in_outbox(fake, "a1") == ["c3"]
    assert await fresh.flush("a1") == 1
    assert sent(publisher) == ["c1", "c2", "c3"]


async def test_unpublished_events_ride_with_the_next_save_and_go_out_once(cas: Cas) -> None:
    fake, collection = fake_collection()
    publisher = FakePublisher()
    store = AggregateStore(collection, publisher, cas=cas)
    await store.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    await store.save({"_id": "a1"}, expected_version=1, emissions=[command("c2")])
    await store.save({"_id": "a1", "quiet": True}, expected_version=2)
    assert in_outbox(fake, "a1") == ["c1", "c2"]
    assert await store.flush("a1") == 2
    assert await store.sweep() == 0
    assert sent(publisher) == ["c1", "c2"] and markers(fake).docs == {}


async def test_what_a_crash_left_unpublished_the_next_process_publishes_once(cas: Cas) -> None:
    fake, collection = fake_collection()
    crashed = AggregateStore(collection, FakePublisher(), cas=cas)
    await crashed.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    await crashed.save({"_id": "a2"}, expected_version=0, emissions=[command("c2", "S-2")])
    await crashed.save({"_id": "a3"}, expected_version=0)  # nothing to publish
    await crashed.save({"_id": "a2"}, expected_version=1, emissions=[command("c3", "S-2")])
    # ... and the process died before flushing.
    publisher = FakePublisher()
    restarted = AggregateStore(collection, publisher, cas=cas)
    assert await restarted.sweep() == 3
    assert sorted(sent(publisher)) == ["c1", "c2", "c3"]
    assert markers(fake).docs == {}
    assert await restarted.sweep() == 0
    assert await restarted.flush("a2") == 0
    assert await AggregateStore(collection, publisher, cas=cas).sweep() == 0
    assert len(publisher.sent) == 3
    assert [fake.docs[i]["version"] for i in ("a1", "a2", "a3")] == [1, 2, 1]


@pytest.mark.parametrize("retry", ["flush", "sweep"])
async def test_a_flush_that_failed_is_done_by_the_next_flush_or_sweep(cas: Cas, retry: str) -> None:
    fake, collection = fake_collection()
    publisher = FakePublisher(fail_next=1)
    store = AggregateStore(collection, publisher, cas=cas)
    assert await store.sweep() == 0  # running: its start-up look is done
    await store.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    with pytest.raises(ConnectionError):
        await store.flush("a1")
    assert list(markers(fake).docs) == ["a1#1"]
    assert await (store.flush("a1") if retry == "flush" else store.sweep()) == 1
    assert sent(publisher) == ["c1"] and markers(fake).docs == {}
    assert await store.sweep() == 0 and await store.flush("a1") == 0


async def test_a_sweep_goes_on_past_one_aggregate_that_fails(cas: Cas) -> None:
    fake, collection = fake_collection()
    crashed = AggregateStore(collection, FakePublisher(), cas=cas)
    await crashed.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    await crashed.save({"_id": "a2"}, expected_version=0, emissions=[command("c2", "S-2")])
    publisher = FakePublisher(fail_next=1)
    restarted = AggregateStore(collection, publisher, cas=cas)
    assert await restarted.sweep() == 1  # one failed, the other went out
    assert len(markers(fake).docs) == 1
    assert await restarted.sweep() == 1  # and the failed one at the next sweep
    assert sorted(sent(publisher)) == ["c1", "c2"] and markers(fake).docs == {}
    assert await restarted.sweep() == 0


async def test_a_sweep_leaves_a_live_writers_fresh_events_to_it(cas: Cas) -> None:
    fake, collection = fake_collection()
    relay_out, writer_out = FakePublisher(), FakePublisher()
    relay = AggregateStore(collection, relay_out, cas=cas, look_every=0.0)
    assert await relay.sweep() == 0  # recovered at start-up: nothing then
    writer = AggregateStore(collection, writer_out, cas=cas)
    await writer.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    assert await relay.sweep() == 0
    assert await writer.flush("a1") == 1
    age_markers(fake)
    assert await relay.sweep() == 0
    assert (sent(relay_out), sent(writer_out)) == ([], ["c1"])


async def test_a_marker_of_a_version_never_written_is_dropped_once_old(cas: Cas) -> None:
    fake, collection = fake_collection()
    dying = AggregateStore(collection, FakePublisher(), cas=cas)
    fake.fail_next_write = AutoReconnect("the process died mid-insert")
    with pytest.raises(AutoReconnect):
        await dying.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    assert list(markers(fake).docs) == ["a1#1"] and fake.docs == {}
    publisher = FakePublisher()
    relay = AggregateStore(collection, publisher, cas=cas, look_every=0.0)
    assert await relay.sweep() == 0
    assert list(markers(fake).docs) == ["a1#1"]  # young: maybe a live writer's
    age_markers(fake)
    assert await relay.sweep() == 0
    assert markers(fake).docs == {} and publisher.sent == []


async def test_a_projection_a_crash_left_unwritten_is_written_at_start_up(cas: Cas) -> None:
    fake, collection = fake_collection()
    crash, project, projected = projections()

    dying = AggregateStore(collection, FakePublisher(), cas=cas, after_write=crash)
    with pytest.raises(AutoReconnect):
        await dying.save({"_id": "a1", "n": 1}, expected_version=0)
    restarted = AggregateStore(collection, FakePublisher(), cas=cas, after_write=project)
    assert await restarted.sweep() == 0  # no events, but the projection is redone
    assert projected == [("a1", 1)] and markers(fake).docs == {}
    await restarted.save({"_id": "a1", "n": 2}, expected_version=1)
    assert projected == [("a1", 1), ("a1", 2)] and markers(fake).docs == {}


async def test_a_re_created_aggregates_events_are_not_taken_for_the_old_lifes(cas: Cas) -> None:
    # What this process knows was published is per life of an aggregate (before 618ad06
    # the old life's versions hid the new life's unpublished events, and new-1 was lost).
    fake, collection = fake_collection()
    publisher = FakePublisher()
    store = AggregateStore(collection, publisher, cas=cas)
    await store.save({"_id": "a1"}, expected_version=0, emissions=[command("old-1")])
    await store.flush("a1")
    await store.save({"_id": "a1"}, expected_version=1, emissions=[command("old-2")])
    await store.flush("a1")  # the old life is out up to version 2
    await fake.delete_one({"_id": "a1"})
    await store.save({"_id": "a1"}, expected_version=0, emissions=[command("new-1")])
    publisher.fail_next = 1
    with pytest.raises(ConnectionError):  # the broker is away: new-1 stays marked
        await store.flush("a1")
    assert await store.get("a1") is not None
    await store.save({"_id": "a1"}, expected_version=1, emissions=[command("new-2")])
    await store.flush("a1")
    age_markers(fake)
    await AggregateStore(collection, publisher, cas=cas, look_every=0.0).sweep()
    assert sorted(sent(publisher)) == ["new-1", "new-2", "old-1", "old-2"]


# Saves made while handling a message that comes again if the process dies
# (shared.kafka.subscribe(..., redelivery_recovers=True)): no marker; the handler's flush
# on the second handling is the recovery.


async def test_a_save_recovered_by_redelivery_writes_no_marker_and_goes_out_once(
    cas: Cas,
) -> None:
    fake, collection = fake_collection()
    publisher = FakePublisher()
    store = AggregateStore(collection, publisher, cas=cas)
    with recovered_by_redelivery():
        await store.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
        assert markers(fake).docs == {} and markers(fake).writes == 0
        assert await store.flush("a1") == 1
        assert await store.flush("a1") == 0  # this process knows it went out
    assert markers(fake).writes == 0  # nor a delete of a marker never written
    assert sent(publisher) == ["c1"]


async def test_what_a_crash_left_unpublished_the_redelivered_message_publishes(
    cas: Cas,
) -> None:
    fake, collection = fake_collection()
    dead = AggregateStore(collection, FakePublisher(), cas=cas)
    with recovered_by_redelivery():
        await dead.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    # The process died here: no marker, so no sweep finds it...
    publisher = FakePublisher()
    restarted = AggregateStore(collection, publisher, cas=cas)
    assert await restarted.sweep() == 0 and sent(publisher) == []
    # ...but the message comes again, and its handler finds the case and flushes it.
    with recovered_by_redelivery():
        assert await restarted.flush("a1") == 1
    assert sent(publisher) == ["c1"] and markers(fake).docs == {}


async def test_unmarked_events_nobody_knows_went_out_ride_with_the_next_save(cas: Cas) -> None:
    fake, collection = fake_collection()
    first = AggregateStore(collection, FakePublisher(), cas=cas)
    with recovered_by_redelivery():
        await first.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    publisher = FakePublisher()
    other = AggregateStore(collection, publisher, cas=cas)  # an officer's action elsewhere
    assert await other.get("a1") is not None
    await other.save({"_id": "a1"}, expected_version=1, emissions=[command("c2")])
    assert list(markers(fake).docs) == ["a1#2"]  # this save is no message's: marked
    assert await other.flush("a1") == 2
    assert sent(publisher) == ["c1", "c2"] and markers(fake).docs == {}


async def test_a_redelivery_redoes_a_projection_a_crash_left_unwritten(cas: Cas) -> None:
    fake, collection = fake_collection()
    crash, project, projected = projections()

    dying = AggregateStore(collection, FakePublisher(), cas=cas, after_write=crash)
    with recovered_by_redelivery(), pytest.raises(AutoReconnect):
        await dying.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    publisher = FakePublisher()
    restarted = AggregateStore(collection, publisher, cas=cas, after_write=project)
    with recovered_by_redelivery():
        assert await restarted.flush("a1") == 1
    assert projected == [("a1", 1)] and sent(publisher) == ["c1"]
    assert markers(fake).docs == {}


async def test_a_change_made_in_a_round_is_marked_even_inside_a_message(cas: Cas) -> None:
    fake, collection = fake_collection()

    class Holding(FakePublisher):
        async def publish_all(self, messages: Any, *, parent: str | None = None) -> None:
            assert list(markers(fake).docs) == ["a1#1"]
            await super().publish_all(messages, parent=parent)

    store = AggregateStore(collection, Holding(), cas=cas)
    with recovered_by_redelivery():
        await change(store, "a1", lambda doc: ({"n": 1}, [command("c1")]))
    assert markers(fake).docs == {}


async def test_a_sweep_leaves_a_fresh_save_to_its_own_flush_for_a_while(
    cas: Cas, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, collection = fake_collection()
    publisher = FakePublisher()
    store = AggregateStore(collection, publisher, cas=cas)
    assert await store.sweep() == 0  # the first, at start-up: what predecessors left
    await store.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    assert await store.sweep() == 0  # its caller flushes it, in its own trace
    monkeypatch.setattr("shared.store.FLUSH_GRACE_SECONDS", 0.0)  # ...but did not, in time
    assert await store.sweep() == 1
    assert await store.flush("a1") == 0
    assert sent(publisher) == ["c1"] and markers(fake).docs == {}
