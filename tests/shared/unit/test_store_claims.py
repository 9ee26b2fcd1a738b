"""The claims compare-and-set (FerretDB v1): a claim names one version of one life of an
aggregate, a dead writer's claim is taken over after its lifetime, and a write the
server refused frees the version at once. Also: the mode is detected from the server."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from shared.errors import ConcurrencyError
from shared.mongo import MAX_REPLACES
from shared.store import CLAIM_TTL, AggregateStore, Cas, claim_of, detect_cas, server_of
from tests.fakes import FakePublisher
from tests.shared.unit.fakes_mongo import FakeCollection, FakeDatabase, fake_collection


async def created() -> tuple[FakeCollection, AggregateStore]:
    fake, collection = fake_collection()
    store = AggregateStore(collection, FakePublisher(), cas=Cas.CLAIMS)
    assert await store.save({"_id": "a1", "n": 0}, expected_version=0) == 1
    return fake, store


# detect_cas remembers its answer by id(client): clients are kept alive, so that a later
# client never reuses the id (and the cached answer) of a freed one.
SERVERS: list[FakeDatabase] = []


def server(*, ferret: bool, ours: bool = False) -> FakeDatabase:
    info: dict[str, Any] = {"version": "7"}
    if ferret:
        info = {"version": "7.0.77", "ferretdbVersion": "v1.24.2"}
        # what deploy/local's build says (ferretdb-conditional-replace.patch)
        features = {"aggregationStages": ["$match"], "ruamConditionalReplace": ours}
        info["ferretdbFeatures"] = features
    SERVERS.append(FakeDatabase(info))
    return SERVERS[-1]


def claims(fake: FakeCollection) -> FakeCollection:
    return fake.database[f"{fake.name}_claims"]


def test_a_claim_names_the_aggregate_the_version_and_the_life() -> None:
    assert claim_of("a1", 1, "w") != claim_of("a1", 2, "w")
    assert claim_of("a1", 1, "w") != claim_of("a1", 1, "x")
    assert claim_of("a1", 1, "w") != claim_of("a2", 1, "w")
    assert claim_of("a1", 1, None) == claim_of("a1", 1, "")


async def test_each_version_step_is_claimed_once() -> None:
    fake, store = await created()
    write_id = fake.docs["a1"]["write_id"]
    assert await store.get("a1") is not None
    assert await store.save({"_id": "a1", "n": 1}, expected_version=1) == 2
    assert claim_of("a1", 1, write_id) in claims(fake).docs
    assert fake.docs["a1"]["write_id"] != write_id  # the next version is a new claim


async def test_a_re_created_aggregate_starts_with_fresh_claims() -> None:
    fake, store = await created()
    assert await store.get("a1") is not None
    assert await store.save({"_id": "a1", "n": 1}, expected_version=1) == 2
    await fake.delete_one({"_id": "a1"})
    again = AggregateStore(store.collection, FakePublisher(), cas=Cas.CLAIMS)
    assert await again.save({"_id": "a1", "n": 0}, expected_version=0) == 1
    assert await again.get("a1") is not None
    assert await again.save({"_id": "a1", "n": 1}, expected_version=1) == 2  # not blocked
    assert fake.docs["a1"]["version"] == 2


async def test_a_claim_held_by_a_live_writer_is_a_conflict() -> None:
    fake, store = await created()
    held = claim_of("a1", 1, fake.docs["a1"]["write_id"])
    await claims(fake).insert_one({"_id": held, "at": datetime.now(UTC), "by": "alive"})
    assert await store.get("a1") is not None
    with pytest.raises(ConcurrencyError):
        await store.save({"_id": "a1", "n": 1}, expected_version=1)
    assert fake.docs["a1"]["version"] == 1
    assert claims(fake).docs[held]["by"] == "alive"


async def test_a_dead_writers_claim_is_taken_over_after_its_lifetime() -> None:
    fake, store = await created()
    held = claim_of("a1", 1, fake.docs["a1"]["write_id"])
    long_ago = datetime.now(UTC) - CLAIM_TTL - timedelta(seconds=1)
    await claims(fake).insert_one({"_id": held, "at": long_ago, "by": "dead"})
    assert await store.get("a1") is not None
    assert await store.save({"_id": "a1", "n": 1}, expected_version=1) == 2
    assert claims(fake).docs[held]["by"] != "dead"
    assert (fake.docs["a1"]["n"], fake.docs["a1"]["version"]) == (1, 2)


async def test_a_dead_writer_that_wrote_after_all_wins_the_takeover() -> None:
    fake, store = await created()
    assert await store.get("a1") is not None  # read version 1
    held = claim_of("a1", 1, fake.docs["a1"]["write_id"])
    long_ago = datetime.now(UTC) - CLAIM_TTL - timedelta(seconds=1)
    await claims(fake).insert_one({"_id": held, "at": long_ago, "by": "dead"})
    fake.docs["a1"].update(n=7, version=2, write_id="written-by-the-dead")
    with pytest.raises(ConcurrencyError):
        await store.save({"_id": "a1", "n": 1}, expected_version=1)
    assert fake.docs["a1"]["n"] == 7


async def test_a_write_the_server_refused_frees_the_version_at_once() -> None:
    fake, store = await created()
    assert await store.get("a1") is not None
    fake.fail_next_write = OperationFailure("refused", 2)
    with pytest.raises(OperationFailure):
        await store.save({"_id": "a1", "n": 1}, expected_version=1)
    assert await store.save({"_id": "a1", "n": 2}, expected_version=1) == 2
    assert fake.docs["a1"]["n"] == 2


async def test_a_write_that_may_have_landed_keeps_its_claim() -> None:
    fake, store = await created()
    assert await store.get("a1") is not None
    fake.fail_next_write = AutoReconnect("connection lost mid-write")
    with pytest.raises(AutoReconnect):
        await store.save({"_id": "a1", "n": 1}, expected_version=1)
    with pytest.raises(ConcurrencyError):  # until the claim's lifetime is over
        await store.save({"_id": "a1", "n": 2}, expected_version=1)
    assert fake.docs["a1"]["n"] == 0


async def test_the_mode_is_detected_from_the_server_once() -> None:
    ferret, mongo = server(ferret=True), server(ferret=False)
    assert await detect_cas(ferret) is Cas.CLAIMS  # type: ignore[arg-type]
    assert await detect_cas(mongo) is Cas.NATIVE  # type: ignore[arg-type]
    ferret.client.admin.build_info = {"version": "8.0.0"}  # asked once per client
    assert await detect_cas(ferret) is Cas.CLAIMS  # type: ignore[arg-type]
    store = AggregateStore(ferret["aggregates"], FakePublisher())  # type: ignore[arg-type]
    assert await store.cas() is Cas.CLAIMS


async def test_what_a_dead_client_was_told_is_not_given_to_the_next() -> None:
    # Clients are told apart by id(): once one is gone, the next may get its id, and must
    # then be asked, not answered with what the server behind the dead one said.
    for _ in range(50):
        gone = FakeDatabase({"version": "7.0.77", "ferretdbVersion": "v1.24.2"})
        assert (await server_of(gone)).ferretdb  # type: ignore[arg-type]
        del gone
        gc.collect()
        mongo = FakeDatabase({"version": "7"})
        assert not (await server_of(mongo)).ferretdb  # type: ignore[arg-type]


async def test_our_ferretdb_build_saves_by_the_native_compare_and_set() -> None:
    ours = server(ferret=True, ours=True)
    assert await detect_cas(ours) is Cas.NATIVE  # type: ignore[arg-type]
    assert (await server_of(ours)).ferretdb  # type: ignore[arg-type]
    store = AggregateStore(ours["aggregates"], FakePublisher())  # type: ignore[arg-type]
    assert await store.save({"_id": "a1", "n": 0}, expected_version=0) == 1
    assert await store.save({"_id": "a1", "n": 1}, expected_version=1) == 2
    with pytest.raises(ConcurrencyError):
        await store.save({"_id": "a1", "n": 9}, expected_version=1)
    assert ours["aggregates"].docs["a1"]["n"] == 1
    assert not ours["aggregates_claims"].docs  # no claims were needed


@pytest.mark.parametrize(
    ("ferret", "ours", "many"),
    [(False, False, True), (True, True, True), (True, False, False)],
    ids=["mongodb", "our ferretdb build", "ferretdb as released"],
)
async def test_concurrent_saves_share_requests_of_replaces_as_the_server_allows(
    ferret: bool, ours: bool, many: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that replaces by `_id` without a query takes every waiting replace in one
    request; FerretDB as released holds a connection per statement, so 4 at a time."""
    db = server(ferret=ferret, ours=ours)
    fake = db["aggregates"]
    store = AggregateStore(fake, FakePublisher())  # type: ignore[arg-type]
    ids = [f"a{i}" for i in range(30)]
    for doc_id in ids:
        assert await store.save({"_id": doc_id, "n": 0}, expected_version=0) == 1
    sizes: list[int] = []
    gate = asyncio.Event()
    bulk_write, replace_one = fake.bulk_write, fake.replace_one

    async def bulk(requests: list[Any], ordered: bool = True) -> Any:
        sizes.append(len(requests))
        await gate.wait()
        return await bulk_write(requests, ordered)

    async def one(query: Any, doc: Any, upsert: bool = False) -> Any:
        sizes.append(1)
        await gate.wait()
        return await replace_one(query, doc, upsert)

    monkeypatch.setattr(fake, "bulk_write", bulk)
    monkeypatch.setattr(fake, "replace_one", one)
    saves = [asyncio.ensure_future(store.save({"_id": i, "n": 1}, expected_version=1)) for i in ids]
    while not sizes:  # the first request is out, and held: the others queue behind it
        await asyncio.sleep(0)
    for _ in range(100):
        await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*saves) == [2] * 30
    assert [fake.docs[i]["n"] for i in ids] == [1] * 30
    assert sum(sizes) == 30
    if many:
        assert max(sizes) > MAX_REPLACES, sizes
        assert len(sizes) <= 3, sizes
    else:
        assert max(sizes) <= MAX_REPLACES, sizes


async def test_on_ferretdb_only_unique_indexes_are_created() -> None:
    ferret, ours = server(ferret=True), server(ferret=True, ours=True)
    mongo = server(ferret=False)
    for database in (ferret, ours, mongo):
        store = AggregateStore(database["cases"], None)  # type: ignore[arg-type]
        await store.ensure_indexes("status", ("department", "received_at"), "key", unique=["key"])
    assert [(f, u) for _, f, u in ferret.indexes] == [([("key", 1)], True)]
    assert [(f, u) for _, f, u in ours.indexes] == [([("key", 1)], True)]
    assert [(f, u) for _, f, u in mongo.indexes] == [
        ([("status", 1)], False),
        ([("department", 1), ("received_at", 1)], False),
        ([("key", 1)], True),
    ]


async def test_a_taker_that_died_mid_takeover_does_not_lock_the_aggregate_for_good() -> None:
    """The writer died holding its claim, then a taker died after winning the takeover:
    the next taker takes over the takeover once that too is older than a claim's life."""
    fake, store = await created()
    held = claim_of("a1", 1, fake.docs["a1"]["write_id"])
    long_ago = datetime.now(UTC) - CLAIM_TTL - timedelta(seconds=1)
    await claims(fake).insert_one({"_id": held, "at": long_ago, "by": "dead"})
    step = f"{held}#takeover#dead#0"
    await claims(fake).insert_one({"_id": step, "at": datetime.now(UTC), "by": "taker"})
    assert await store.get("a1") is not None
    with pytest.raises(ConcurrencyError, match="being taken over"):  # a live taker: wait
        await store.save({"_id": "a1", "n": 1}, expected_version=1)
    claims(fake).docs[step]["at"] = long_ago  # ... who then died too
    assert await store.get("a1") is not None
    assert await store.save({"_id": "a1", "n": 1}, expected_version=1) == 2
    assert (fake.docs["a1"]["n"], fake.docs["a1"]["version"]) == (1, 2)
