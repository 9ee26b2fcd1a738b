"""An in-memory stand-in for the few PyMongo async calls shared.store makes.

It keeps the rules the store relies on: `_id` is unique (a second insert raises
pymongo's DuplicateKeyError), each call is atomic, documents are copied in and out (as
BSON would), and every call first yields to the event loop, so that writers started
together with asyncio.gather really interleave between their calls.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from bson.codec_options import CodecOptions
from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

Doc = dict[str, Any]


@dataclass(frozen=True)
class Result:
    matched_count: int = 0
    modified_count: int = 0
    deleted_count: int = 0
    upserted_id: Any = None


def _matches(doc: Doc, query: Doc) -> bool:
    for field, wanted in query.items():
        value = doc.get(field)
        if isinstance(wanted, dict) and wanted and all(k.startswith("$") for k in wanted):
            for op, operand in wanted.items():
                if op == "$lt":
                    if value is None or not value < operand:
                        return False
                elif op == "$in":
                    if value not in operand:
                        return False
                else:
                    raise NotImplementedError(f"fake: query operator {op}")
        elif value != wanted:
            return False
    return True


def _project(doc: Doc, projection: Doc | None) -> Doc:
    if not projection:
        return copy.deepcopy(doc)
    if all(not v for v in projection.values()):
        return copy.deepcopy({k: v for k, v in doc.items() if k not in projection})
    keep = {k for k, v in projection.items() if v} | {"_id"}
    return copy.deepcopy({k: v for k, v in doc.items() if k in keep})


class FakeCollection:
    codec_options: CodecOptions[Doc] = CodecOptions(tz_aware=True)

    def __init__(self, database: FakeDatabase, name: str) -> None:
        self.database = database
        self.name = name
        self.docs: dict[Any, Doc] = {}
        # The next write (insert, replace, update) raises this instead of writing.
        self.fail_next_write: BaseException | None = None
        self.writes = 0  # write requests, deletes too

    async def _turn(self, write: bool = False) -> None:
        await asyncio.sleep(0)
        self.writes += write
        if write and self.fail_next_write is not None:
            exc, self.fail_next_write = self.fail_next_write, None
            raise exc

    async def find_one(self, query: Doc, projection: Doc | None = None) -> Doc | None:
        await self._turn()
        for doc in self.docs.values():
            if _matches(doc, query):
                return _project(doc, projection)
        return None

    async def _found(self, query: Doc, projection: Doc | None) -> AsyncIterator[Doc]:
        await self._turn()
        for doc in [d for d in self.docs.values() if _matches(d, query)]:
            yield _project(doc, projection)

    def find(self, query: Doc | None = None, projection: Doc | None = None) -> AsyncIterator[Doc]:
        return self._found(query or {}, projection)

    async def insert_one(self, doc: Doc) -> Result:
        await self._turn(write=True)
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"E11000 duplicate key: {doc['_id']!r}", 11000)
        self.docs[doc["_id"]] = copy.deepcopy(doc)
        return Result()

    async def insert_many(self, docs: list[Doc], ordered: bool = True) -> Result:
        """Unordered only, as the store sends it: each document on its own, the duplicates
        reported by index the way the server does (a BulkWriteError after the others)."""
        assert not ordered, "fake: ordered insert_many"
        await self._turn(write=True)
        errors = []
        for i, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                errors.append({"index": i, "code": 11000, "errmsg": f"E11000 {doc['_id']!r}"})
            else:
                self.docs[doc["_id"]] = copy.deepcopy(doc)
        if errors:
            raise BulkWriteError({"writeErrors": errors, "nInserted": len(docs) - len(errors)})
        return Result()

    async def replace_one(self, query: Doc, doc: Doc, upsert: bool = False) -> Result:
        await self._turn(write=True)
        for key, stored in self.docs.items():
            if _matches(stored, query):
                self.docs[key] = copy.deepcopy({**doc, "_id": key})
                return Result(matched_count=1, modified_count=1)
        if upsert and "_id" in query:
            self.docs[query["_id"]] = copy.deepcopy({**doc, "_id": query["_id"]})
        return Result()

    async def bulk_write(self, requests: list[ReplaceOne[Doc]], ordered: bool = True) -> Result:
        """Unordered replaces only, as BulkWriter sends them: one turn, each on its own."""
        assert not ordered, "fake: ordered bulk_write"
        await self._turn(write=True)
        matched = 0
        for request in requests:
            assert isinstance(request, ReplaceOne), "fake: bulk_write of replaces only"
            query, doc = dict(request._filter), dict(request._doc)
            for key, stored in self.docs.items():
                if _matches(stored, query):
                    self.docs[key] = copy.deepcopy({**doc, "_id": key})
                    matched += 1
                    break
        return Result(matched_count=matched, modified_count=matched)

    async def update_one(self, query: Doc, update: Doc, upsert: bool = False) -> Result:
        await self._turn(write=True)
        unknown = set(update) - {"$set", "$setOnInsert"}
        if unknown:
            raise NotImplementedError(f"fake: update operators {unknown}")
        for stored in self.docs.values():
            if _matches(stored, query):
                stored.update(copy.deepcopy(update.get("$set", {})))
                return Result(matched_count=1, modified_count=1)
        if not upsert:
            return Result()
        equal = {k: v for k, v in query.items() if not isinstance(v, dict)}
        doc = {**equal, **update.get("$setOnInsert", {}), **update.get("$set", {})}
        if doc["_id"] in self.docs:  # the filter named more than the _id: a race
            raise DuplicateKeyError(f"E11000 duplicate key: {doc['_id']!r}", 11000)
        self.docs[doc["_id"]] = copy.deepcopy(doc)
        return Result(upserted_id=doc["_id"])

    async def delete_one(self, query: Doc) -> Result:
        await self._turn()
        self.writes += 1
        for key, stored in list(self.docs.items()):
            if _matches(stored, query):
                del self.docs[key]
                return Result(deleted_count=1)
        return Result()

    async def find_one_and_update(
        self, query: Doc, update: Doc, upsert: bool = False, return_document: Any = None
    ) -> Doc | None:
        """`$inc` on an `_id`, returning the document after (what counters send)."""
        await self._turn(write=True)
        assert set(update) == {"$inc"} and set(query) == {"_id"}, "fake: counters only"
        doc = self.docs.get(query["_id"])
        if doc is None:
            if not upsert:
                return None
            doc = self.docs[query["_id"]] = {"_id": query["_id"]}
        for field, by in update["$inc"].items():
            doc[field] = doc.get(field, 0) + by
        return copy.deepcopy(doc)

    async def delete_many(self, query: Doc) -> Result:
        await self._turn()
        self.writes += 1
        gone = [key for key, stored in self.docs.items() if _matches(stored, query)]
        for key in gone:
            del self.docs[key]
        return Result(deleted_count=len(gone))

    async def create_index(self, keys: Any, unique: bool = False) -> str:
        await self._turn()
        self.database.indexes.append((self.name, list(keys), unique))
        return "_".join(str(k) for k in keys)


class FakeAdmin:
    def __init__(self, build_info: Doc) -> None:
        self.build_info = build_info

    async def command(self, name: str) -> Doc:
        assert name == "buildInfo", name
        return dict(self.build_info)


class FakeClient:
    def __init__(self, build_info: Doc) -> None:
        self.admin = FakeAdmin(build_info)


class FakeDatabase:
    def __init__(self, build_info: Doc | None = None) -> None:
        self.client = FakeClient(build_info or {"version": "7.0.0"})
        self.collections: dict[str, FakeCollection] = {}
        self.indexes: list[tuple[str, list[Any], bool]] = []

    def __getitem__(self, name: str) -> FakeCollection:
        if name not in self.collections:
            self.collections[name] = FakeCollection(self, name)
        return self.collections[name]


def fake_collection(
    name: str = "aggregates", build_info: Doc | None = None
) -> tuple[FakeCollection, AsyncCollection[Doc]]:
    """The fake, and the same object typed as what AggregateStore takes."""
    fake = FakeDatabase(build_info)[name]
    return fake, cast("AsyncCollection[Doc]", fake)
