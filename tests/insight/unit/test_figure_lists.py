"""Insight's buckets are read by id from their dimension's list, never by a filter
FerretDB would answer with a scan: what is listed, when, and after what failures."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.insight.adapters.mongo_insight import MongoFigures, bucket_to_document
from services.insight.domain import rules
from services.insight.domain.model import Bucket
from tests.shared.unit.fakes_mongo import FakeDatabase

ORG = "sraphonthong"
FERRET = {"version": "7.0.77", "ferretdbVersion": "v1.24.2"}


def database() -> tuple[FakeDatabase, AsyncDatabase[dict[str, Any]]]:
    fake = FakeDatabase(FERRET)
    return fake, cast("AsyncDatabase[dict[str, Any]]", fake)


def spot(place: str) -> str:
    return rules.spot_id(ORG, "road", place)


async def test_a_dimension_is_read_by_its_listed_ids() -> None:
    fake, db = database()
    figures = MongoFigures(db)
    await figures.add(rules.bucket_id(ORG, 2570, "department", "engineering"), {"n": 1}, "t1")
    await figures.add(rules.bucket_id(ORG, 2569, "department", "engineering"), {"n": 2}, "t2")
    await figures.add(rules.bucket_id(ORG, 2570, "department", "health"), {"n": 3}, "t3")
    await figures.add(rules.bucket_id(ORG, 2570, "month", "2026-11"), {"n": 4}, "t4")

    this_year = await figures.find(ORG, "department", 2570)
    assert sorted((b.value, b.counts["n"]) for b in this_year) == [
        ("engineering", 1),
        ("health", 3),
    ]
    every_year = await figures.find(ORG, "department")
    assert sorted(b.fiscal_year for b in every_year) == [2569, 2570, 2570]
    assert await figures.find("another-sao", "department") == []
    # Each page read is two finds by id, however many buckets are stored.
    assert fake["insight_figure_ids"].docs[f"{ORG}|department"]["ids"] == [
        rules.bucket_id(ORG, 2570, "department", "engineering"),
        rules.bucket_id(ORG, 2569, "department", "engineering"),
        rules.bucket_id(ORG, 2570, "department", "health"),
    ]


async def test_a_place_is_listed_at_its_second_report() -> None:
    _, db = database()
    figures = MongoFigures(db)
    await figures.add(spot("c15701_103348"), {"d20261101": 1}, "a")
    await figures.add(spot("c15702_103348"), {"d20261101": 1}, "b")
    assert await figures.find(ORG, rules.SPOT, 0) == []
    await figures.add(spot("c15701_103348"), {"d20261102": 1}, "c")
    found = await figures.find(ORG, rules.SPOT, 0)
    assert [(b.value, sum(b.counts.values())) for b in found] == [("road|c15701_103348", 2)]


async def test_a_bucket_changed_but_not_listed_is_listed_when_its_change_comes_again() -> None:
    fake, db = database()
    figures = MongoFigures(db)
    bid = rules.bucket_id(ORG, 2570, "category", "road")
    fake["insight_figure_ids"].fail_next_write = ConnectionError("FerretDB went away")
    with pytest.raises(ConnectionError):
        await figures.add(bid, {"n": 1}, "t1")  # the bucket has it; its list does not
    assert fake["insight_figures"].docs[bid]["counts"] == {"n": 1}
    assert await figures.find(ORG, "category", 2570) == []
    # The event is redelivered (its offset was never committed): nothing is added twice,
    # and the bucket is listed.
    await figures.add(bid, {"n": 1}, "t1")
    found = await figures.find(ORG, "category", 2570)
    assert [b.counts for b in found] == [{"n": 1}]


async def test_buckets_stored_before_the_lists_are_listed_once_at_start() -> None:
    fake, db = database()
    old = [
        Bucket(rules.bucket_id(ORG, 2570, "village", "4"), ORG, 2570, "village", "4", {"n": 1}),
        Bucket(spot("v4"), ORG, 0, rules.SPOT, "road|v4", {"d20261101": 1, "d20261102": 1}),
        Bucket(spot("v5"), ORG, 0, rules.SPOT, "road|v5", {"d20261101": 1}),
    ]
    for b in old:
        fake["insight_figures"].docs[b.bucket_id] = {**bucket_to_document(b), "version": 1}
    figures = MongoFigures(db)
    await figures.ensure_indexes()
    assert [b.value for b in await figures.find(ORG, "village", 2570)] == ["4"]
    assert [b.value for b in await figures.find(ORG, rules.SPOT, 0)] == ["road|v4"]
    # Done once: a later start does not scan again.
    fake["insight_figure_ids"].docs.clear()
    await MongoFigures(db).ensure_indexes()
    assert await figures.find(ORG, "village", 2570) == []
