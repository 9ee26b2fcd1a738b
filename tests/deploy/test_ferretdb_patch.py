"""The FerretDB we build looks documents up by `_id` through its unique index, one id or
`$in` a list of them; its writers queue on a lock of their own instead of SQLite's
sleeping retries, with nothing lost, doubled or let through that SQLite would refuse; and
it writes a replacement found by `_id` without reading the old document first.

Proved on the running binary (its own `explain` shows SQLite's query plan) and on its
database file: the work SQLite does for one `_id` lookup, counted in virtual-machine
steps (not seconds), stays the same from 1,000 to 50,000 documents, while the
expression upstream sends grows with the table.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from deploy.local import stack
from shared.mongo import create_client

pytestmark = pytest.mark.integration

PATCHED = "_ferretdb_sjson->'_id'"  # what deploy/local/ferretdb-sqlite-id-index.patch sends
UPSTREAM = "_ferretdb_sjson->'$._id'"


def vm_steps(db: Path, table: str, expression: str, doc_id: str) -> int:
    """SQLite virtual-machine steps for one lookup, as FerretDB's SELECT writes it."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.set_progress_handler(count, 10)
        rows = conn.execute(
            f'SELECT _ferretdb_sjson FROM "{table}" WHERE {expression} = ?', (f'"{doc_id}"',)
        ).fetchall()
    assert len(rows) == 1
    return steps * 10


def table_of(db: Path, collection: str) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (table,) = conn.execute(
            "SELECT table_name FROM _ferretdb_collections WHERE name = ?", (collection,)
        ).fetchone()
    return str(table)


async def test_id_lookups_use_the_index_and_stay_flat(real_stack: Any, isolation: str) -> None:
    profile: stack.Profile = real_stack
    database = f"ruam_{isolation}"
    client = create_client(profile.mongodb_url, app_name="test")
    try:
        coll = client[database]["docs"]
        docs = [{"_id": f"case-{n:06d}", "text": "ถนนชำรุด" * 20, "n": n} for n in range(50_000)]
        await coll.insert_many(docs[:1_000])

        plan = await client[database].command(
            "explain", {"find": "docs", "filter": {"_id": "case-000500"}}
        )
        details = " ".join(str(x) for x in plan["queryPlanner"]["Plan"])
        assert "USING INDEX" in details, plan
        assert plan.get("filterPushdown") is True
        many = {"_id": {"$in": ["case-000007", "case-000500", "case-000999"]}}
        plan = await client[database].command("explain", {"find": "docs", "filter": many})
        assert "USING INDEX" in " ".join(str(x) for x in plan["queryPlanner"]["Plan"]), plan
        assert plan.get("filterPushdown") is True
        found_many = [d["n"] async for d in coll.find({"_id": {"$in": [*many["_id"]["$in"], 7]}})]
        assert sorted(found_many) == [7, 500, 999]  # not pushed down (a number): still right
        scan = await client[database].command("explain", {"find": "docs", "filter": {"n": 5}})
        assert "SCAN" in " ".join(str(x) for x in scan["queryPlanner"]["Plan"])

        file = profile.ferretdb_dir / "data" / f"{database}.sqlite"
        table = table_of(file, "docs")
        small = vm_steps(file, table, PATCHED, "case-000500")
        small_upstream = vm_steps(file, table, UPSTREAM, "case-000500")

        await coll.insert_many(docs[1_000:])
        assert await coll.count_documents({}) == 50_000
        large = vm_steps(file, table, PATCHED, "case-049500")
        large_upstream = vm_steps(file, table, UPSTREAM, "case-049500")

        assert large <= small * 1.5, (small, large)  # flat: an index seek
        ids = [f"case-{n:06d}" for n in range(0, 50_000, 1_000)]
        assert len([d async for d in coll.find({"_id": {"$in": ids}}, {"n": 1})]) == 50
        assert large_upstream >= small_upstream * 20, (small_upstream, large_upstream)  # a scan

        found = await coll.find_one({"_id": "case-049999"})
        assert found is not None and found["n"] == 49_999
        replaced = await coll.replace_one({"_id": "case-049999"}, {"text": "ซ่อมแล้ว", "n": -1})
        assert replaced.matched_count == 1
        assert (await coll.find_one({"_id": "case-049999"}) or {}).get("n") == -1
    finally:
        await client.drop_database(database)
        await client.close()


async def test_concurrent_writers_all_land_once(real_stack: Any, isolation: str) -> None:
    """Sixteen writers at once on one database (the write lock's case): every insert,
    replace and delete lands, a duplicate `_id` is still refused (in a batch and alone),
    and no request is left waiting."""
    profile: stack.Profile = real_stack
    database = f"ruam_{isolation}"
    client = create_client(profile.mongodb_url, app_name="test", max_pool_size=20)
    try:
        db = client[database]

        async def writer(w: int) -> int:
            coll = db[f"c{w % 4}"]
            refused = 0
            for i in range(15):
                docs = [{"_id": f"{w}-{i}-{k}", "text": "ถนนชำรุด" * 40, "n": 0} for k in range(4)]
                await coll.insert_many(docs)
                await coll.replace_one({"_id": f"{w}-{i}-0"}, {"text": "ซ่อมแล้ว", "n": i + 1})
                await coll.delete_one({"_id": f"{w}-{i}-3"})
                try:  # the first goes in, its copy is refused: the batch stops there
                    await coll.insert_many([{"_id": f"{w}-{i}-9"}, {"_id": f"{w}-{i}-1"}])
                except BulkWriteError as exc:
                    refused += exc.details["writeErrors"][0]["code"] == 11000
                try:
                    await coll.insert_one({"_id": f"{w}-{i}-2"})
                except DuplicateKeyError:
                    refused += 1
            return refused

        refused = await asyncio.wait_for(asyncio.gather(*(writer(w) for w in range(16))), 120)
        assert refused == [30] * 16
        for c in range(4):
            coll = db[f"c{c}"]
            # Per writer and round: 4 inserted, 1 deleted, 1 more from the refused batch.
            assert await coll.count_documents({}) == 4 * 15 * 4
            assert await coll.count_documents({"n": {"$gt": 0}}) == 4 * 15
            assert await coll.find_one({"_id": f"{c}-14-3"}) is None
            assert (await coll.find_one({"_id": f"{c}-14-0"}) or {}).get("n") == 15
    finally:
        await client.drop_database(database)
        await client.close()


async def test_a_replacement_by_id_is_written_as_mongodb_writes_it(
    real_stack: Any, isolation: str
) -> None:
    """deploy/local/ferretdb-replace-by-id.patch writes a replacement found by `_id` alone
    without reading the old document: what is stored and what is answered stay MongoDB's."""
    profile: stack.Profile = real_stack
    database = f"ruam_{isolation}"
    client = create_client(profile.mongodb_url, app_name="test")
    try:
        coll = client[database]["docs"]
        oid = ObjectId()
        await coll.insert_many(
            [
                {"_id": "a", "text": "ถนนชำรุด", "n": 1, "gone": True},
                {"_id": oid, "n": 1},
                {"_id": 7, "n": 1},
            ]
        )

        replaced = await coll.replace_one({"_id": "a"}, {"text": "ซ่อมแล้ว", "n": 2})
        assert (replaced.matched_count, replaced.modified_count) == (1, 1)
        assert await coll.find_one({"_id": "a"}) == {"_id": "a", "text": "ซ่อมแล้ว", "n": 2}
        # The replacement may name its own _id when it is the same one.
        assert (await coll.replace_one({"_id": "a"}, {"_id": "a", "n": 3})).matched_count == 1
        assert await coll.find_one({"_id": "a"}) == {"_id": "a", "n": 3}
        assert (await coll.replace_one({"_id": oid}, {"n": 2})).matched_count == 1
        assert (await coll.replace_one({"_id": 7}, {"n": 2})).matched_count == 1  # usual path
        assert [d["n"] async for d in coll.find({"n": 2})] == [2, 2]

        # Nothing there: nothing matched, nothing written; with upsert (the usual path) it is.
        missing = await coll.replace_one({"_id": "b"}, {"n": 1})
        assert (missing.matched_count, missing.modified_count) == (0, 0)
        assert await coll.find_one({"_id": "b"}) is None
        upserted = await coll.replace_one({"_id": "b"}, {"n": 1}, upsert=True)
        assert upserted.upserted_id == "b"

        # Another _id in the replacement is refused, and the stored document is untouched.
        with pytest.raises(WriteError) as refused:
            await coll.replace_one({"_id": "a"}, {"_id": "z", "n": 9})
        assert refused.value.code == 66  # ImmutableField
        # So is a field name FerretDB cannot store (sent raw: pymongo would refuse it first).
        answer = await client[database].command(
            "update", "docs", updates=[{"q": {"_id": "a"}, "u": {"n": 9, "a.b": 1}}]
        )
        assert [e["code"] for e in answer["writeErrors"]] == [2], answer
        assert await coll.find_one({"_id": "a"}) == {"_id": "a", "n": 3}
        assert await coll.find_one({"_id": "z"}) is None

        # Many replacements in one request (the services' group commit).
        result = await coll.bulk_write(
            [ReplaceOne({"_id": "a"}, {"n": 4}), ReplaceOne({"_id": "nope"}, {"n": 4})]
        )
        assert (result.matched_count, result.modified_count) == (1, 1)
        assert await coll.count_documents({}) == 4
    finally:
        await client.drop_database(database)
        await client.close()


async def test_a_replacement_on_a_version_is_a_compare_and_set(
    real_stack: Any, isolation: str
) -> None:
    """deploy/local/ferretdb-conditional-replace.patch: a replacement filtered by `_id` and
    one integer field is one conditional SQL statement, so of writers racing from one
    version exactly one wins (FerretDB as released lets them all win), and it matches what
    MongoDB matches."""
    profile: stack.Profile = real_stack
    database = f"ruam_{isolation}"
    client = create_client(profile.mongodb_url, app_name="test", max_pool_size=20)
    try:
        info = await client.admin.command("buildInfo")
        assert info["ferretdbFeatures"]["ruamConditionalReplace"] is True
        coll = client[database]["docs"]
        await coll.insert_one({"_id": "race", "version": 1})
        for step in range(1, 11):
            results = await asyncio.gather(
                *(
                    coll.replace_one(
                        {"_id": "race", "version": step}, {"version": step + 1, "w": w}
                    )
                    for w in range(16)
                )
            )
            assert sum(r.matched_count for r in results) == 1, step
        assert (await coll.find_one({"_id": "race"}) or {}).get("version") == 11

        oid = ObjectId()
        await coll.insert_many(
            [
                {"_id": "double", "version": 1.0},  # equal as numbers, as on MongoDB
                {"_id": "text", "version": "1"},
                {"_id": "flag", "version": True},  # SQLite's JSON says 1; MongoDB: no match
                {"_id": "none"},
                {"_id": oid, "version": Int64(2**40)},
                {"_id": "list", "version": [3, 1]},  # an array matches by any element
                {"_id": "texts", "version": ["1"]},
            ]
        )

        async def matched(filter_: dict[str, Any]) -> int:
            return (await coll.replace_one(filter_, {"version": 0})).matched_count

        assert await matched({"_id": "double", "version": 1}) == 1
        assert await matched({"version": 0, "_id": "double"}) == 1  # in either order
        assert await matched({"_id": "text", "version": 1}) == 0
        assert await matched({"_id": "flag", "version": 1}) == 0
        assert await matched({"_id": "none", "version": 1}) == 0
        assert await matched({"_id": oid, "version": Int64(2**40)}) == 1
        assert await matched({"_id": "list", "version": 7}) == 0
        assert await matched({"_id": "list", "version": 1}) == 1
        assert await matched({"_id": "texts", "version": 1}) == 0
        assert await coll.find_one({"_id": "text"}) == {"_id": "text", "version": "1"}
        assert await coll.find_one({"_id": oid}) == {"_id": oid, "version": 0}

        # In one request: each statement on its own, the match count summed.
        result = await coll.bulk_write(
            [
                ReplaceOne({"_id": "race", "version": 11}, {"version": 12}),
                ReplaceOne({"_id": "race", "version": 11}, {"version": 13}),
            ],
            ordered=False,
        )
        assert result.matched_count == 1
        assert (await coll.find_one({"_id": "race"}) or {}).get("version") == 12
    finally:
        await client.drop_database(database)
        await client.close()


async def test_requests_of_many_conditional_replacements_hold_no_connection_each(
    real_stack: Any, isolation: str
) -> None:
    """The store sends every waiting replacement on a version in one request on this build
    (shared.store, `replaces_per_request`): FerretDB as released would query for each
    statement and keep that query's connection until the request ended, and hung with a
    hundred held. Here 12 writers send 100 each at once, twice over: all land, and the
    ones at a stale version match nothing."""
    profile: stack.Profile = real_stack
    database = f"ruam_{isolation}"
    client = create_client(profile.mongodb_url, app_name="test", max_pool_size=20)
    try:
        coll = client[database]["docs"]
        ids = [f"w{w}-{i}" for w in range(12) for i in range(100)]
        await coll.insert_many([{"_id": i, "version": 1, "text": "ถนนชำรุด" * 20} for i in ids])

        async def writer(w: int, step: int) -> int:
            mine = [i for i in ids if i.startswith(f"w{w}-")]
            result = await coll.bulk_write(
                [
                    ReplaceOne({"_id": i, "version": step}, {"version": step + 1, "by": w})
                    for i in mine
                ],
                ordered=False,
            )
            return result.matched_count

        for step in (1, 2):
            matched = await asyncio.wait_for(
                asyncio.gather(*(writer(w, step) for w in range(12))), 120
            )
            assert matched == [100] * 12, step
        stale = await asyncio.wait_for(writer(0, 1), 120)
        assert stale == 0
        assert await coll.count_documents({"version": 3}) == 1200
    finally:
        await client.drop_database(database)
        await client.close()
