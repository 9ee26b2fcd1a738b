"""shared.mongo's group commit: concurrent writers share requests, each keeps its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from shared.errors import WriteUncertain
from shared.mongo import MAX_REPLACES, BulkReader, BulkWriter, Document, SequenceDrawer
from tests.shared.unit.fakes_mongo import FakeCollection, fake_collection


class Counting:
    """The fake collection, counting the requests each method was sent."""

    def __init__(self, fake: FakeCollection) -> None:
        self.fake = fake
        self.calls: dict[str, int] = {}
        self.gate: asyncio.Event | None = None  # when set: requests wait for it

    async def _sent(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.gate is not None:
            await self.gate.wait()
        return await getattr(self.fake, name)(*args, **kwargs)

    async def insert_many(self, *args: Any, **kwargs: Any) -> Any:
        return await self._sent("insert_many", *args, **kwargs)

    async def delete_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._sent("delete_one", *args, **kwargs)

    async def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return await self._sent("delete_many", *args, **kwargs)

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        return await self._sent("find_one_and_update", *args, **kwargs)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._sent("find_one", *args, **kwargs)

    async def replace_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._sent("replace_one", *args, **kwargs)

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        return await self._sent("bulk_write", *args, **kwargs)

    def find(self, *args: Any, **kwargs: Any) -> AsyncIterator[Document]:
        async def found() -> AsyncIterator[Document]:
            await self._sent("_turn")
            async for doc in self.fake.find(*args, **kwargs):
                yield doc

        self.calls["find"] = self.calls.get("find", 0) + 1
        return found()


def counting() -> tuple[FakeCollection, Counting, AsyncCollection[Document]]:
    fake, _ = fake_collection("things")
    wrapped = Counting(fake)
    return fake, wrapped, cast("AsyncCollection[Document]", wrapped)


async def test_a_lone_insert_is_one_request() -> None:
    fake, calls, collection = counting()
    writer = BulkWriter(collection)
    assert await writer.insert({"_id": "a", "n": 1}) is True
    assert fake.docs == {"a": {"_id": "a", "n": 1}}
    assert calls.calls == {"insert_many": 1}


async def test_concurrent_inserts_share_requests_and_each_learns_its_own_outcome() -> None:
    fake, calls, collection = counting()
    fake.docs["dup-3"] = {"_id": "dup-3"}
    fake.docs["dup-7"] = {"_id": "dup-7"}
    writer = BulkWriter(collection)
    ids = [f"dup-{i}" if i in (3, 7) else f"new-{i}" for i in range(40)]
    outcomes = await asyncio.gather(*(writer.insert({"_id": i}) for i in ids))
    assert outcomes == [not i.startswith("dup-") for i in ids]
    assert set(fake.docs) == set(ids)
    assert calls.calls["insert_many"] == 1


async def test_writers_that_come_while_a_request_is_in_flight_go_in_the_next_one() -> None:
    fake, calls, collection = counting()
    writer = BulkWriter(collection)
    calls.gate = asyncio.Event()
    first = asyncio.ensure_future(writer.insert({"_id": "first"}))
    while not calls.calls:  # the first request is out, and held
        await asyncio.sleep(0)
    later = [asyncio.ensure_future(writer.insert({"_id": f"later-{i}"})) for i in range(5)]
    await asyncio.sleep(0)
    assert calls.calls["insert_many"] == 1
    calls.gate.set()
    assert await asyncio.gather(first, *later) == [True] * 6
    assert calls.calls["insert_many"] == 2
    assert len(fake.docs) == 6


async def test_a_failed_request_fails_every_writer_in_it_and_the_next_request_is_fresh() -> None:
    fake, _, collection = counting()
    writer = BulkWriter(collection)
    fake.fail_next_write = AutoReconnect("connection reset")
    results = await asyncio.gather(
        *(writer.insert({"_id": f"x{i}"}) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, AutoReconnect) for r in results)
    assert await writer.insert({"_id": "x0"}) is True  # it never landed: no duplicate


async def test_deletes_by_id_are_shared_too() -> None:
    fake, calls, collection = counting()
    for i in range(10):
        fake.docs[f"m{i}"] = {"_id": f"m{i}"}
    writer = BulkWriter(collection)
    await asyncio.gather(*(writer.delete(f"m{i}") for i in range(8)))
    assert set(fake.docs) == {"m8", "m9"}
    assert calls.calls == {"delete_many": 1}
    await writer.delete("m8")
    assert calls.calls == {"delete_many": 1, "delete_one": 1}


async def test_a_cancelled_writer_leaves_the_others_their_outcome() -> None:
    fake, _, collection = counting()
    writer = BulkWriter(collection)
    first = asyncio.ensure_future(writer.insert({"_id": "a"}))
    second = asyncio.ensure_future(writer.insert({"_id": "b"}))
    await asyncio.sleep(0)
    second.cancel()
    assert await first is True
    with pytest.raises(asyncio.CancelledError):
        await second
    for _ in range(5):
        await asyncio.sleep(0)
    assert set(fake.docs) == {"a", "b"}  # it was sent: the store's claims cope with that


async def test_numbers_drawn_together_are_unique_gap_free_and_in_order_of_asking() -> None:
    fake, calls, collection = counting()
    drawer = SequenceDrawer(collection)
    numbers = await asyncio.gather(*(drawer.next("org-2569") for _ in range(50)))
    assert numbers == list(range(1, 51))
    assert fake.docs["org-2569"]["seq"] == 50
    assert calls.calls["find_one_and_update"] < 50
    assert await drawer.next("org-2569") == 51
    assert await drawer.next("org-2570") == 1


async def test_a_failed_draw_fails_its_callers_and_takes_no_number() -> None:
    fake, _, collection = counting()
    drawer = SequenceDrawer(collection)
    assert await drawer.next("k") == 1
    fake.fail_next_write = AutoReconnect("gone")
    with pytest.raises(AutoReconnect):
        await drawer.next("k")
    assert await drawer.next("k") == 2


async def test_concurrent_replaces_share_requests_of_a_few_and_each_lands() -> None:
    fake, calls, collection = counting()
    fake.docs.update({f"d-{i}": {"_id": f"d-{i}", "n": 0} for i in range(30)})
    writer = BulkWriter(collection)
    calls.gate = asyncio.Event()
    first = asyncio.ensure_future(writer.replace({"_id": "d-0", "n": 100}))
    while not calls.calls:
        await asyncio.sleep(0)
    rest = [asyncio.ensure_future(writer.replace({"_id": f"d-{i}", "n": i})) for i in range(1, 30)]
    await asyncio.sleep(0)
    calls.gate.set()
    await asyncio.gather(first, *rest)
    # 29 waiting go out MAX_REPLACES at a time: FerretDB v1 holds a connection per statement
    # of an update command until it ends, and hangs when a hundred are held.
    assert MAX_REPLACES == 4
    assert calls.calls == {"replace_one": 2, "bulk_write": 7}  # the first; 7 of 4; the 29th
    assert [fake.docs[f"d-{i}"]["n"] for i in range(30)] == [100, *range(1, 30)]


def _held_back(calls: Counting) -> asyncio.Event:
    calls.gate = asyncio.Event()
    return calls.gate


async def test_conditional_replaces_share_requests_and_each_learns_if_it_won() -> None:
    fake, calls, collection = counting()
    fake.docs.update({f"d-{i}": {"_id": f"d-{i}", "v": 1, "w": "old"} for i in range(4)})
    writer = BulkWriter(collection)
    gate = _held_back(calls)
    first = asyncio.ensure_future(
        writer.replace_if({"_id": "d-0", "v": 2, "w": "a"}, {"v": 1}, "w")
    )
    while not calls.calls:
        await asyncio.sleep(0)
    # Waiting together: two at the version they expect, one at a stale version, and a
    # second writer of d-1 from the same version (one of the two wins).
    rest = [
        asyncio.ensure_future(writer.replace_if(doc, {"v": v}, "w"))
        for doc, v in [
            ({"_id": "d-1", "v": 2, "w": "b"}, 1),
            ({"_id": "d-2", "v": 2, "w": "c"}, 7),
            ({"_id": "d-1", "v": 2, "w": "d"}, 1),
        ]
    ]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(first, *rest) == [True, True, False, False]
    assert {k: d["w"] for k, d in fake.docs.items()} == {
        "d-0": "a",
        "d-1": "b",
        "d-2": "old",
        "d-3": "old",
    }
    # The first alone; then the three in one request and one read to tell who won.
    assert calls.calls == {"replace_one": 1, "bulk_write": 1, "find": 1, "_turn": 1}


async def test_a_winner_written_over_before_the_read_leaves_the_losers_uncertain() -> None:
    fake, calls, collection = counting()
    fake.docs.update({k: {"_id": k, "v": 1, "w": "old"} for k in ("a", "b")})
    writer = BulkWriter(collection)
    real_bulk = fake.bulk_write

    async def then_overwritten(*args: Any, **kwargs: Any) -> Any:
        result = await real_bulk(*args, **kwargs)
        fake.docs["a"] = {"_id": "a", "v": 3, "w": "later"}  # another writer moved a on
        return result

    fake.bulk_write = then_overwritten  # type: ignore[method-assign]
    gate = _held_back(calls)
    first = asyncio.ensure_future(writer.replace_if({"_id": "b", "v": 2, "w": "x"}, {"v": 1}, "w"))
    while not calls.calls:
        await asyncio.sleep(0)
    won = asyncio.ensure_future(writer.replace_if({"_id": "a", "v": 2, "w": "y"}, {"v": 1}, "w"))
    lost = asyncio.ensure_future(writer.replace_if({"_id": "b", "v": 2, "w": "z"}, {"v": 1}, "w"))
    await asyncio.sleep(0)
    gate.set()
    assert await first
    # Two were sent and one matched: b's read says it was not the one; a's read cannot
    # say, so both of them may have been written.
    for uncertain in (won, lost):
        with pytest.raises(WriteUncertain):
            await uncertain


async def test_readers_that_come_while_a_find_is_in_flight_share_the_next_one() -> None:
    fake, calls, collection = counting()
    fake.docs.update({f"d-{i}": {"_id": f"d-{i}", "n": i, "big": "x"} for i in range(20)})
    reader = BulkReader(collection, {"n": 1})
    calls.gate = asyncio.Event()
    first = asyncio.ensure_future(reader.get("d-0"))
    while not calls.calls:
        await asyncio.sleep(0)
    asked = ["d-5", "d-6", "missing", "d-5", "d-19"]
    later = [asyncio.ensure_future(reader.get(i)) for i in asked]
    await asyncio.sleep(0)
    assert calls.calls == {"find_one": 1}
    calls.gate.set()
    got = await asyncio.gather(first, *later)
    assert got == [
        {"_id": "d-0", "n": 0},
        {"_id": "d-5", "n": 5},
        {"_id": "d-6", "n": 6},
        None,
        {"_id": "d-5", "n": 5},
        {"_id": "d-19", "n": 19},
    ]
    assert calls.calls == {"find_one": 1, "find": 1, "_turn": 1}
    first_copy = got[1]
    assert first_copy is not None
    first_copy["n"] = -1  # two callers of one id hold documents of their own
    assert got[4] == {"_id": "d-5", "n": 5}


async def test_a_read_asked_after_a_write_finished_sees_it() -> None:
    fake, calls, collection = counting()
    fake.docs["a"] = {"_id": "a", "n": 1}
    reader = BulkReader(collection)
    calls.gate = asyncio.Event()
    stale = asyncio.ensure_future(reader.get("a"))  # out before the write below
    while not calls.calls:
        await asyncio.sleep(0)
    fake.docs["a"] = {"_id": "a", "n": 2}
    fresh = asyncio.ensure_future(reader.get("a"))
    calls.gate.set()
    await stale  # sent before the write: whatever it read, it is not the later reader's
    assert (await fresh or {})["n"] == 2


async def test_a_failed_find_fails_every_reader_in_it() -> None:
    fake, calls, collection = counting()
    reader = BulkReader(collection)

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("gone")

    calls.fake.find_one = refuse  # type: ignore[method-assign]
    with pytest.raises(AutoReconnect):
        await reader.get("a")
    fake.docs["a"] = {"_id": "a"}
    del calls.fake.find_one
    assert await reader.get("a") == {"_id": "a"}
