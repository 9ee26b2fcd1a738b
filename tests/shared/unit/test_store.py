"""The aggregate store's version rules on an in-memory database, in both compare-and-set
modes: a version moves once, a stale writer cannot overwrite, a lost race is retried."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import ConcurrencyError
from shared.events.cases import CaseCommandIssued, CaseCommandPayload
from shared.mongo import Document
from shared.outbox import Emission
from shared.store import (
    AggregateStore,
    Cas,
    Decision,
    Lru,
    Retry,
    change,
    move_later,
    retry_on_conflict,
)
from tests.fakes import FakePublisher
from tests.shared.unit.fakes_mongo import FakeCollection, fake_collection

MODES = pytest.mark.parametrize("cas", list(Cas))
NO_WAIT = Retry(attempts=4, base_seconds=0.0)


def command(name: str) -> Emission:
    payload = CaseCommandPayload(case_id="SPT-2569-000001", action="note", command_id=name)
    return Emission.of(CaseCommandIssued(org_id="sraphonthong", payload=payload))


def sent_commands(publisher: FakePublisher) -> list[str]:
    return [p.json()["payload"]["command_id"] for p in publisher.sent]


async def seeded(cas: Cas) -> tuple[FakeCollection, AggregateStore]:
    fake, collection = fake_collection()
    store = AggregateStore(collection, FakePublisher(), cas=cas)
    assert await store.save({"_id": "a1", "n": 0}, expected_version=0) == 1
    return fake, store


def writer(seed: AggregateStore, cas: Cas) -> tuple[AggregateStore, FakePublisher]:
    """Another process's store on the same collection."""
    publisher = FakePublisher()
    return AggregateStore(seed.collection, publisher, cas=cas), publisher


@MODES
async def test_a_second_insert_of_one_id_is_a_conflict(cas: Cas) -> None:
    fake, store = await seeded(cas)
    other = AggregateStore(store.collection, FakePublisher(), cas=cas)
    with pytest.raises(ConcurrencyError):
        await other.save({"_id": "a1", "n": 9}, expected_version=0)
    with pytest.raises(ConcurrencyError):
        await store.save({"_id": "a1", "n": 9}, expected_version=0)
    assert (fake.docs["a1"]["n"], fake.docs["a1"]["version"]) == (0, 1)


@MODES
async def test_a_save_at_a_stale_version_is_a_conflict_and_writes_nothing(cas: Cas) -> None:
    fake, store = await seeded(cas)
    stale = AggregateStore(store.collection, FakePublisher(), cas=cas)
    assert await stale.get("a1") is not None  # read at version 1
    assert await store.get("a1") is not None
    assert await store.save({"_id": "a1", "n": 1}, expected_version=1) == 2
    with pytest.raises(ConcurrencyError):  # the race: it read version 1 before the move
        await stale.save({"_id": "a1", "n": 99}, expected_version=1, emissions=[command("x")])
    fresh = AggregateStore(store.collection, FakePublisher(), cas=cas)
    for wrong in (1, 3):  # behind, or ahead of, what is stored
        with pytest.raises(ConcurrencyError):
            await fresh.save({"_id": "a1", "n": 99}, expected_version=wrong)
    assert (fake.docs["a1"]["n"], fake.docs["a1"]["version"]) == (1, 2)
    assert fake.docs["a1"]["outbox"] == []


@MODES
async def test_a_save_replaces_the_document_with_the_new_version(cas: Cas) -> None:
    _, store = await seeded(cas)
    assert await store.get("a1") is not None
    # "n" is no longer there (on MongoDB a $set of the new fields kept it, until 618ad06)
    await store.save({"_id": "a1", "m": 1}, expected_version=1)
    stored = await store.get("a1")
    assert stored is not None and (stored["m"], stored["version"]) == (1, 2)
    assert "n" not in stored


@MODES
async def test_of_writers_racing_from_one_version_exactly_one_wins(cas: Cas) -> None:
    fake, seed = await seeded(cas)
    writers = [writer(seed, cas) for _ in range(5)]
    for store, _ in writers:
        assert await store.get("a1") is not None
    results = await asyncio.gather(
        *(
            s.save({"_id": "a1", "by": i}, expected_version=1, emissions=[command(f"c{i}")])
            for i, (s, _) in enumerate(writers)
        ),
        return_exceptions=True,
    )
    assert results.count(2) == 1, results
    assert all(r == 2 or isinstance(r, ConcurrencyError) for r in results), results
    winner = results.index(2)
    assert (fake.docs["a1"]["by"], fake.docs["a1"]["version"]) == (winner, 2)
    for store, _ in writers:
        await store.flush("a1")
    published = [sent_commands(publisher) for _, publisher in writers]
    assert published == [[f"c{winner}"] if i == winner else [] for i in range(5)]


@MODES
async def test_concurrent_changes_both_land_one_after_a_retry(cas: Cas) -> None:
    fake, seed = await seeded(cas)
    decisions: list[int] = []

    def increment(current: Document | None) -> tuple[Document, list[Emission]]:
        assert current is not None
        decisions.append(current["n"])
        return {**current, "n": current["n"] + 1}, []

    stores = [writer(seed, cas)[0] for _ in range(2)]
    done = await asyncio.gather(*(change(s, "a1", increment, policy=NO_WAIT) for s in stores))
    assert sorted(d["version"] for d in done if d) == [2, 3]
    assert (fake.docs["a1"]["n"], fake.docs["a1"]["version"]) == (2, 3)  # no lost update
    assert decisions == [0, 0, 1]  # both decided on version 1; the loser decided again


@MODES
async def test_what_a_store_wrote_it_reads_from_memory_and_another_writer_still_wins(
    cas: Cas,
) -> None:
    fake, seed = await seeded(cas)
    mine = AggregateStore(seed.collection, FakePublisher(), cas=cas, remember=10)
    other = AggregateStore(mine.collection, FakePublisher(), cas=cas)
    await mine.save(
        {"_id": "b1", "n": 0, "at": datetime(2026, 12, 1, tzinfo=UTC)}, expected_version=0
    )
    fake.docs["b1"]["n"] = -1  # not what it wrote: a read that reached the server would see it
    kept = await mine.get("b1")
    assert kept is not None and (kept["n"], kept["at"].utcoffset()) == (0, timedelta(0))
    kept["n"] = 42  # a copy: changing it changes nothing remembered
    again = await mine.get("b1")
    assert again is not None and again["n"] == 0
    # Another process moves it on: the change built on the remembered version loses the
    # race, and its retry reads the server.
    fake.docs["b1"]["n"] = 0
    assert await other.get("b1") is not None
    await other.save({"_id": "b1", "n": 5}, expected_version=1)

    def increment(current: Document | None) -> tuple[Document, list[Emission]]:
        assert current is not None
        return {**current, "n": current["n"] + 1}, []

    done = await change(mine, "b1", increment, policy=NO_WAIT)
    assert done is not None and (done["n"], done["version"]) == (6, 3)
    assert (fake.docs["b1"]["n"], fake.docs["b1"]["version"]) == (6, 3)


@MODES
async def test_a_change_that_keeps_losing_gives_up_after_the_attempts(cas: Cas) -> None:
    _, seed = await seeded(cas)
    stores = [writer(seed, cas)[0] for _ in range(2)]

    def bump(current: Document | None) -> tuple[Document, list[Emission]]:
        assert current is not None
        return {**current, "n": current["n"] + 1}, []

    once = Retry(attempts=1)
    results = await asyncio.gather(
        *(change(s, "a1", bump, policy=once) for s in stores), return_exceptions=True
    )
    assert [isinstance(r, ConcurrencyError) for r in results].count(True) == 1, results


async def test_change_retries_a_lost_race_exactly_attempts_times() -> None:
    fake, seed = await seeded(Cas.NATIVE)
    store, publisher = writer(seed, Cas.NATIVE)
    calls: list[int] = []

    def raced(current: Document | None) -> tuple[Document, list[Emission]]:
        assert current is not None
        calls.append(current["version"])
        fake.docs["a1"]["version"] += 1  # another writer moves it on meanwhile
        return {**current, "n": 1}, [command("never")]

    with pytest.raises(ConcurrencyError):
        await change(store, "a1", raced, policy=NO_WAIT)
    assert calls == [1, 2, 3, 4]
    assert fake.docs["a1"]["n"] == 0
    await store.flush("a1")
    assert sent_commands(publisher) == []


async def test_change_with_nothing_to_decide_writes_nothing() -> None:
    fake, seed = await seeded(Cas.NATIVE)
    store, publisher = writer(seed, Cas.NATIVE)
    before = dict(fake.docs["a1"])
    unchanged = await change(store, "a1", lambda current: None)
    assert unchanged == {k: v for k, v in before.items() if k != "outbox"}
    assert fake.docs["a1"] == before
    created = await change(store, "a2", lambda current: ({"n": 5}, [command("c")]))
    assert created is not None and (created["_id"], created["version"]) == ("a2", 1)
    assert fake.docs["a2"]["n"] == 5 and sent_commands(publisher) == ["c"]


async def test_retry_on_conflict_does_not_retry_other_errors() -> None:
    calls: list[int] = []

    async def broken() -> int:
        calls.append(1)
        raise RuntimeError("a bug, not a race")

    with pytest.raises(RuntimeError):
        await retry_on_conflict(broken, NO_WAIT)
    assert len(calls) == 1

    async def wins_third_time() -> int:
        calls.append(1)
        if len(calls) < 4:
            raise ConcurrencyError("lost")
        return 7

    assert await retry_on_conflict(wins_third_time, NO_WAIT) == 7
    assert len(calls) == 4


@pytest.mark.parametrize("policy", [Retry(), Retry(attempts=3, base_seconds=0.5, cap_seconds=2)])
def test_the_retry_delay_grows_and_stays_bounded(policy: Retry) -> None:
    for attempt in range(64):
        step = min(policy.cap_seconds, policy.base_seconds * 2**attempt)
        for _ in range(50):
            delay = policy.delay(attempt)
            assert step * 0.5 <= delay <= step * 1.5 <= policy.cap_seconds * 1.5


def test_the_lru_forgets_the_least_recently_used() -> None:
    lru: Lru[int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # now "b" is the least recently used
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    lru.put("a", 10)  # a put refreshes too: "c" goes next
    lru.put("d", 4)
    assert (lru.get("a"), lru.get("c"), lru.get("d")) == (10, None, 4)
    assert lru.pop("a") == 10 and lru.get("a") is None and lru.pop("a") is None


@MODES
async def test_changes_to_one_aggregate_in_one_process_share_a_round(cas: Cas) -> None:
    fake, store = await seeded(cas)
    publisher = store._publisher
    assert isinstance(publisher, FakePublisher)
    seen: list[int] = []

    def add(n: int) -> Callable[[Document | None], Decision]:
        def decide(current: Document | None) -> Decision:
            assert current is not None
            seen.append(current["n"])
            return {**current, "n": current["n"] + n}, [command(f"c{n}")]

        return decide

    done = await asyncio.gather(*(change(store, "a1", add(n)) for n in (1, 2, 3, 4)))
    # One load, the four decisions one after the other on what the one before made, one
    # save (version 1 -> 2): no race among them, nothing lost, every event out.
    assert seen == [0, 1, 3, 6]
    assert (fake.docs["a1"]["n"], fake.docs["a1"]["version"]) == (10, 2)
    assert all(d is not None and (d["n"], d["version"]) == (10, 2) for d in done)
    assert done[0] is not done[1]  # each caller its own copy
    assert sent_commands(publisher) == ["c1", "c2", "c3", "c4"]


async def test_a_change_that_comes_during_a_round_is_made_in_the_next() -> None:
    _, store = await seeded(Cas.NATIVE)
    late: list[asyncio.Task[Document | None]] = []

    def first(current: Document | None) -> Decision:
        assert current is not None
        if not late:
            late.append(asyncio.ensure_future(change(store, "a1", second)))
        return {**current, "n": current["n"] + 1}, []

    def second(current: Document | None) -> Decision:
        assert current is not None
        return {**current, "n": current["n"] * 10}, []

    done = await change(store, "a1", first)
    assert done is not None and done["n"] == 1  # the late change is not in this round
    after = await late[0]
    assert after is not None and (after["n"], after["version"]) == (10, 3)
    assert store.rounds == {}


async def test_a_decision_that_raises_fails_only_its_caller() -> None:
    fake, store = await seeded(Cas.NATIVE)

    def bump(current: Document | None) -> Decision:
        assert current is not None
        return {**current, "n": current["n"] + 1}, []

    def broken(current: Document | None) -> Decision:
        raise ValueError("refused")

    results = await asyncio.gather(
        change(store, "a1", bump),
        change(store, "a1", broken),
        change(store, "a1", bump),
        return_exceptions=True,
    )
    assert isinstance(results[1], ValueError)
    assert [r["n"] for r in results if isinstance(r, dict)] == [2, 2]
    assert fake.docs["a1"]["n"] == 2


async def test_a_failed_save_fails_every_change_of_its_round_and_the_next_round_runs() -> None:
    fake, store = await seeded(Cas.NATIVE)

    def bump(current: Document | None) -> Decision:
        assert current is not None
        return {**current, "n": current["n"] + 1}, []

    fake.fail_next_write = OSError("connection reset")
    results = await asyncio.gather(
        change(store, "a1", bump), change(store, "a1", bump), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results) and fake.docs["a1"]["n"] == 0
    again = await change(store, "a1", bump)
    assert again is not None and again["n"] == 1 and store.rounds == {}


async def test_a_caller_that_stops_waiting_does_not_hold_up_the_others() -> None:
    _, store = await seeded(Cas.NATIVE)

    def bump(current: Document | None) -> Decision:
        assert current is not None
        return {**current, "n": current["n"] + 1}, []

    gone = asyncio.ensure_future(change(store, "a1", bump))
    kept = asyncio.ensure_future(change(store, "a1", bump))
    gone.cancel()
    done = await kept
    assert done is not None and done["n"] == 1  # the cancelled one was never decided
    assert gone.cancelled() and store.rounds == {}


@pytest.mark.parametrize("ferret", [True, False])
async def test_a_deadline_only_moves_later(ferret: bool) -> None:
    info = {"version": "7.0.77", "ferretdbVersion": "v1.24.2"} if ferret else {"version": "7"}
    fake, collection = fake_collection("vault", info)
    soon, later = datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    fake.docs["r1"] = {"_id": "r1", "purge_at": soon, "owner": "web:1"}
    fake.docs["r2"] = {"_id": "r2", "owner": "web:2"}  # none to move
    assert await move_later(collection, "r1", "purge_at", later, {"owner": "web:9"})
    assert fake.docs["r1"] == {"_id": "r1", "purge_at": later, "owner": "web:9"}
    assert not await move_later(collection, "r1", "purge_at", soon, {"owner": "web:3"})
    assert not await move_later(collection, "r1", "purge_at", later, {"owner": "web:3"})
    assert fake.docs["r1"]["owner"] == "web:9"
    assert not await move_later(collection, "r2", "purge_at", later, {"owner": "web:3"})
    assert not await move_later(collection, "gone", "purge_at", later, {"owner": "web:3"})
    assert fake.docs["r2"] == {"_id": "r2", "owner": "web:2"} and "gone" not in fake.docs
