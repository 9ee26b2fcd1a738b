"""Incremental figures equal a full recomputation from the raw events: in any order of
arrival, after a replay of everything, after a crash mid-stream, and with the consumers
of different topics running at once."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from services.insight.domain import rules
from services.insight.handlers import InsightHandlers
from services.insight.metrics import InsightMetrics
from shared.clock import FixedClock
from tests.insight.builders import ORG, Event, life, random_events
from tests.insight.fakes import (
    DIRECTORY,
    FakeCases,
    FakeConsultations,
    FakeFigures,
    FakePlans,
    SimulatedCrash,
)


def handlers(figures: FakeFigures | None = None, cases: FakeCases | None = None) -> InsightHandlers:
    return InsightHandlers(
        cases or FakeCases(),
        figures or FakeFigures(),
        FakeConsultations(),
        FakePlans(),
        DIRECTORY,
        FixedClock(datetime(2026, 3, 1, tzinfo=UTC)),
        InsightMetrics(CollectorRegistry()),
    )


async def feed(h: InsightHandlers, events: list[Event]) -> None:
    for e in events:
        await h.on_event(e)


def shuffled(events: list[Event], seed: int) -> list[Event]:
    out = list(events)
    random.Random(seed).shuffle(out)
    return out


def chains(figures: dict[str, dict[str, int]]) -> int:
    """Linked buckets holding more than one report: the random lives carry routing's
    duplicate links, so the orders below move those buckets too."""
    return sum(
        1
        for bid, counts in figures.items()
        if f"|{rules.LINK}|" in bid and sum(n for k, n in counts.items() if k[0] == "d") > 1
    )


async def test_in_order_equals_recompute() -> None:
    events = random_events(120, seed=1)
    h = handlers()
    await feed(h, events)
    assert await h.stored_figures(ORG) == rules.recompute(events)
    assert chains(rules.recompute(events)) > 5


@pytest.mark.parametrize("seed", [2, 3, 4])
async def test_any_order_of_arrival_equals_recompute(seed: int) -> None:
    # Topics are separate streams: a case's resolution may come before its receipt.
    events = random_events(80, seed=seed)
    h = handlers()
    await feed(h, shuffled(events, seed))
    assert await h.stored_figures(ORG) == rules.recompute(events)
    assert chains(rules.recompute(events)) > 0


async def test_a_replay_of_everything_changes_nothing() -> None:
    events = random_events(80, seed=5)
    figures, cases = FakeFigures(), FakeCases()
    h = handlers(figures, cases)
    await feed(h, events)
    before, writes = await h.stored_figures(ORG), figures.writes
    await feed(h, shuffled(events, 6))  # every topic replayed from the start
    assert await h.stored_figures(ORG) == before == rules.recompute(events)
    assert figures.writes == writes  # not even a write: each event is known by its id


@pytest.mark.parametrize("crash_after", [0, 1, 5, 17, 300, 1001])
async def test_a_crash_mid_stream_then_redelivery_equals_recompute(crash_after: int) -> None:
    events = random_events(60, seed=7)
    figures, cases = FakeFigures(), FakeCases()
    h = handlers(figures, cases)
    figures.crash_after = crash_after
    done = 0
    with pytest.raises(SimulatedCrash):
        for e in events:
            await h.on_event(e)
            done += 1  # handled: its offset may be committed
    # A restarted process (new handlers, the same database) is given again every event
    # whose offset was not committed: the one that died, and a few handled before it.
    figures.crash_after = None
    restarted = handlers(figures, cases)
    await feed(restarted, events[max(0, done - 3) :])
    assert await restarted.stored_figures(ORG) == rules.recompute(events)


async def test_the_next_event_of_a_case_finishes_what_a_crash_left_pending() -> None:
    events = random_events(1, seed=8)
    figures, cases = FakeFigures(), FakeCases()
    h = handlers(figures, cases)
    figures.crash_after = 3  # dies inside the first event's buckets
    with pytest.raises(SimulatedCrash):
        await h.on_event(events[0])
    figures.crash_after = None
    # The crashed event is not redelivered yet; the case's next event comes first.
    await feed(handlers(figures, cases), events[1:])
    stored = await h.stored_figures(ORG)
    assert stored == rules.recompute(events[1:] + events[:1])
    assert all(not r.pending for r, _ in cases.docs.values())


async def test_consumers_of_different_topics_at_once_equal_recompute() -> None:
    events = random_events(60, seed=9)
    h = handlers()
    by_topic: dict[str, list[Event]] = {}
    for e in events:
        by_topic.setdefault(e.topic.value, []).append(e)
    await asyncio.gather(*(feed(h, evs) for evs in by_topic.values()))
    assert await h.stored_figures(ORG) == rules.recompute(events)
    assert chains(rules.recompute(events)) > 0


CHAIN_START = datetime(2026, 2, 1, 2, tzinfo=UTC)


def chain_events() -> list[Event]:
    """A road problem reported four times at four places more than 100 m apart (words
    alike in one village: routing's other kind of match), the later three linked to the
    first, and a road report at a fifth place linked to nothing."""
    out: list[Event] = []
    for n in range(4):
        out += life(
            f"SPT-C-{n}",
            received_at=CHAIN_START + timedelta(days=3 * n),
            category="road",
            department="engineering",
            lat=15.70 + 0.002 * n,
            lon=103.34,
            village_no=4,
            resolve_after=timedelta(days=2) if n == 1 else None,
            likely_duplicate_of="SPT-C-0" if n else None,
        )
    out += life(
        "SPT-C-9",
        received_at=CHAIN_START,
        category="road",
        department="engineering",
        lat=15.71,
        lon=103.35,
    )
    return out


def chain_orders() -> list[list[Event]]:
    events = chain_events()
    by_topic: dict[str, list[Event]] = {}
    for e in events:
        by_topic.setdefault(e.topic.value, []).append(e)
    # the case.assigned topic (with the links) first, last, or mixed in
    topics = sorted(by_topic, key=lambda t: t != "case.assigned")
    return [
        events,
        events[::-1],
        *(shuffled(events, seed) for seed in (2, 3, 4)),
        [e for t in topics for e in by_topic[t]],
        [e for t in reversed(topics) for e in by_topic[t]],
    ]


@pytest.mark.parametrize("order", range(7))
async def test_a_duplicate_chain_is_one_linked_hotspot_in_any_order(order: int) -> None:
    events = chain_orders()[order]
    h = handlers()
    await feed(h, events)
    assert await h.stored_figures(ORG) == rules.recompute(events)
    found = await h.hotspots(ORG, date(2026, 3, 1))
    # no ~100 m cell holds three of them: only the links join them
    assert [x["kind"] for x in found] == ["linked"]
    assert found[0] | {"first_day": None, "last_day": None} == {
        "kind": "linked",
        "category": "road",
        "root_case_id": "SPT-C-0",
        "case_ids": ["SPT-C-0", "SPT-C-1", "SPT-C-2", "SPT-C-3"],
        "place": None,
        "village_no": None,
        "lat": None,
        "lon": None,
        "reports": 4,
        "first_day": None,
        "last_day": None,
        "days": 4,
    }
    # a hotspot is a list beside the figures, never added into them
    road = {b.value: b.counts for b in await h.slices(ORG, "category", 2569)}["road"]
    assert road["received"] == 5


async def test_a_linked_hotspot_counts_only_the_reports_within_its_window() -> None:
    h = handlers()
    await feed(h, chain_events())
    found = await h.hotspots(ORG, date(2026, 2, 10), window_days=5)
    assert found == []  # two of the chain within the 5 days ending 10 Feb
    found = await h.hotspots(ORG, date(2026, 2, 10), window_days=5, at_least=2)
    assert [(x["root_case_id"], x["case_ids"]) for x in found] == [
        ("SPT-C-0", ["SPT-C-2", "SPT-C-3"])
    ]


async def test_improvement_actions_are_not_citizens_matters() -> None:
    from services.insight.domain.model import CaseFacts

    facts = CaseFacts(
        "SPT-1", ORG, kind="improvement_action", received_at="2026-01-01T00:00:00+00:00"
    )
    assert rules.contribution(facts) == {}


def test_figures_have_no_dotted_or_dollar_keys_and_only_integers() -> None:
    figures = rules.recompute(random_events(50, seed=10))
    for counts in figures.values():
        for key in counts:
            assert "." not in key and "$" not in key, key
            assert isinstance(counts[key], int)


async def test_the_operators_check_finds_a_bucket_that_drifted() -> None:
    events = random_events(30, seed=12)
    figures = FakeFigures()
    h = handlers(figures)
    await feed(h, events)
    checked = await h.check(ORG)
    assert checked["equal"] and checked["pending"] == 0 and checked["cases"] == 30
    bid = next(iter(figures.docs))
    bucket, version = figures.docs[bid]
    figures.docs[bid] = (replace(bucket, counts={**bucket.counts, "received": 999}), version)
    checked = await h.check(ORG)
    assert not checked["equal"] and checked["differences"][0]["bucket"] == bid
