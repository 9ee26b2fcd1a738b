"""The demo's planted history (tools/demo/stages/history.py): the analysis finds the three
patterns, and the numbers it shows equal those recomputed here, independently of insight's
code, from the raw events alone."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from services.insight import report
from services.insight.handlers import InsightHandlers
from services.insight.metrics import InsightMetrics
from shared.clock import FixedClock
from shared.events.cases import CaseAssigned, CaseReceived, CaseResolved, CaseStatusChanged
from shared.thai import BANGKOK
from tests.insight.builders import ORG, Event, history_events
from tests.insight.fakes import DIRECTORY, FakeCases, FakeConsultations, FakeFigures, FakePlans
from tools.demo.stages.history import expected, plant, wave_month

TODAY = date(2026, 3, 1)  # FY2569 Q2 holds the pothole, the wave and the street lights


def handlers() -> InsightHandlers:
    return InsightHandlers(
        FakeCases(),
        FakeFigures(),
        FakeConsultations(),
        FakePlans(),
        DIRECTORY,
        FixedClock(datetime.combine(TODAY, datetime.min.time(), tzinfo=BANGKOK).astimezone(UTC)),
        InsightMetrics(CollectorRegistry()),
    )


async def analysed() -> tuple[InsightHandlers, list[Event]]:
    events = history_events(plant(TODAY))
    h = handlers()
    for e in events:
        await h.on_event(e)
    return h, events


# --- the independent recomputation: plain loops over the raw events, nothing of insight's


def categories(events: list[Event]) -> dict[str, str]:
    return {
        e.payload.case_id: e.payload.categories[0].code
        for e in events
        if isinstance(e, CaseAssigned) and e.payload.categories
    }


def spot_counts(events: list[Event], until: date, days: int) -> Counter[tuple[str, int, int]]:
    cats = categories(events)
    out: Counter[tuple[str, int, int]] = Counter()
    for e in events:
        if not isinstance(e, CaseReceived) or e.payload.location is None:
            continue
        loc, day = e.payload.location, e.payload.received_at.astimezone(BANGKOK).date()
        if (
            loc.lat is None
            or loc.lon is None
            or not until - timedelta(days=days - 1) <= day <= until
        ):
            continue
        out[(cats[e.payload.case_id], round(loc.lat * 1000), round(loc.lon * 1000))] += 1
    return out


def monthly(events: list[Event], category: str) -> Counter[str]:
    cats = categories(events)
    return Counter(
        e.payload.received_at.astimezone(BANGKOK).strftime("%Y-%m")
        for e in events
        if isinstance(e, CaseReceived) and cats[e.payload.case_id] == category
    )


def reopen_percent(events: list[Event], category: str) -> float:
    cats = categories(events)
    resolved = {e.payload.case_id for e in events if isinstance(e, CaseResolved)}
    reopened = {
        e.payload.case_id
        for e in events
        if isinstance(e, CaseStatusChanged) and e.payload.to_status == "reopened"
    }
    mine = {c for c in resolved if cats[c] == category}
    return round(100 * len(mine & reopened) / len(mine), 1)


# --- the tests


async def test_the_pothole_is_a_hotspot_with_the_recomputed_count() -> None:
    h, events = await analysed()
    (top_key, top_n), *_ = spot_counts(events, TODAY, 60).most_common()
    found = await h.hotspots(ORG, TODAY)
    assert found[0]["category"] == top_key[0] == "road"
    assert found[0]["reports"] == top_n == expected(TODAY)["pothole_reports"] == 8
    assert (round(found[0]["lat"] * 1000), round(found[0]["lon"] * 1000)) == top_key[1:]
    span = date.fromisoformat(found[0]["last_day"]) - date.fromisoformat(found[0]["first_day"])
    assert span.days == expected(TODAY)["pothole_days"] == 39  # over six weeks: 42 to 3 days ago


async def test_the_pothole_reports_linked_by_routing_are_one_linked_hotspot() -> None:
    h, events = await analysed()
    # recomputed by hand: each case's link (case.assigned), else the case itself
    root = {
        e.payload.case_id: e.payload.duplicate_root or e.payload.case_id
        for e in events
        if isinstance(e, CaseAssigned)
    }
    chains = Counter(root.values())
    (first, n), *_ = chains.most_common()
    linked = [x for x in await h.hotspots(ORG, TODAY) if x["kind"] == "linked"]
    assert [(x["category"], x["root_case_id"], x["reports"]) for x in linked] == [
        ("road", first, n)
    ]
    assert n == expected(TODAY)["pothole_reports"] == 8
    assert linked[0]["case_ids"] == sorted(c for c, r in root.items() if r == first)


async def test_the_drainage_wave_is_found_in_its_month() -> None:
    h, events = await analysed()
    month = wave_month(TODAY).strftime("%Y-%m")
    by_month = monthly(events, "drainage")
    waves = await h.waves(ORG, 2569)
    assert [(w["category"], w["month"], w["received"]) for w in waves] == [
        ("drainage", month, by_month[month])
    ]
    assert by_month[month] == 12
    # and against the previous fiscal year, month by month
    season = {r["month"]: r for r in await h.seasonality(ORG, 2569, "drainage")}
    assert season[month]["received"] == by_month[month]


async def test_the_street_lights_reopen_at_forty_percent() -> None:
    h, events = await analysed()
    built = await report.build(h, ORG, 2569, 2, None)
    lighting = next(r for r in built["categories"] if r["category"] == "lighting")
    assert lighting["percent_reopened"] == reopen_percent(events, "lighting") == 40.0
    assert [r["category"] for r in built["reopen"]] == ["lighting"]


async def test_the_report_shows_all_three() -> None:
    h, _ = await analysed()
    built: dict[str, Any] = await report.build(h, ORG, 2569, 2, None)
    assert built["hotspots"][0]["category"] == "road" and built["hotspots"][0]["reports"] == 8
    # the pothole twice: its ~100 m cell, and routing's chain of likely duplicates
    assert sorted(x["kind"] for x in built["hotspots"] if x["category"] == "road") == [
        "linked",
        "place",
    ]
    assert any(w["category"] == "drainage" and w["received"] == 12 for w in built["waves"])
    assert any(
        r["category"] == "lighting" and r["percent_reopened"] == 40.0 for r in built["reopen"]
    )
    # the causes the owners named, grouped
    causes = {(c["category"]): c["causes"] for c in built["causes"]}
    assert causes["lighting"] == {"lamp_failure": 10}
    assert causes["drainage"] == {"blocked_drain": 15}
    # the engineering division's own report carries the same three
    own = await report.build(h, ORG, 2569, 2, "engineering")
    assert own["hotspots"][0]["reports"] == 8 and own["reopen"][0]["category"] == "lighting"
