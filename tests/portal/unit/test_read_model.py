"""The read model and its figures: pure, from public projections only."""

from __future__ import annotations

from datetime import timedelta

from services.portal.domain import figures
from services.portal.domain.figures import CaseFilter
from services.portal.domain.model import ReadModel, days_to_resolve, deadlines, resolved_at
from shared.events.cases import Kind
from tests.portal.fakes import NOW, case, fact, project, resolved_case

FY_START = NOW.replace(month=10, day=1)  # FY2570 began 1 October 2026 (Bangkok)


def test_a_later_projection_replaces_the_kept_one_and_an_older_one_does_not() -> None:
    model = ReadModel()
    first = case(status="received")
    later = case(status="assigned", steps=(("assigned", NOW - timedelta(days=19)),))
    assert model.take_case(first)
    assert model.take_case(later)
    assert not model.take_case(first), "an older projection arriving late changes nothing"
    assert not model.take_case(later), "a redelivery changes nothing"
    assert model.cases[later.case_id].status == "assigned"


def test_projects_by_revision_and_facts_once() -> None:
    model = ReadModel()
    assert model.take_project(project(revision=3))
    assert not model.take_project(project(revision=2))
    assert model.take_project(project(revision=4))
    assert model.take_fact(fact("f1", {"process": 5}))
    assert not model.take_fact(fact("f1", {"process": 1})), "a fact is counted once"
    assert model.facts["f1"].scores == {"process": 5}


def test_the_reply_deadline_is_met_missed_pending_or_overdue() -> None:
    received = NOW - timedelta(days=40)
    on_time = resolved_case("SPT-2570-000010", received, 14.9)
    late = resolved_case("SPT-2570-000011", received, 15.1)
    waiting = case("SPT-2570-000012", received=NOW - timedelta(days=3))
    overdue = case("SPT-2570-000013", received=NOW - timedelta(days=16))

    def reply(c: object) -> str:
        return next(d.state for d in deadlines(c, NOW) if d.name == "respond")  # type: ignore[arg-type]

    assert [reply(c) for c in (on_time, late, waiting, overdue)] == [
        "met",
        "missed",
        "pending",
        "overdue",
    ]
    assert days_to_resolve(on_time) == 14.9
    assert resolved_at(waiting) is None


def test_the_years_numbers() -> None:
    cases = [
        resolved_case("SPT-2570-000001", FY_START + timedelta(days=1), 2),
        resolved_case("SPT-2570-000002", FY_START + timedelta(days=2), 4),
        resolved_case("SPT-2570-000003", FY_START + timedelta(days=3), 20),  # late
        case("SPT-2570-000004", received=NOW - timedelta(days=1)),  # not yet due
        # The previous fiscal year and the SAO's own improvement actions do not count.
        resolved_case("SPT-2569-000900", FY_START - timedelta(days=5), 1),
        case("SPT-2570-000005", received=NOW - timedelta(days=2), kind=Kind.IMPROVEMENT_ACTION),
    ]
    facts = [
        fact("a", {"process": 5, "staff": 2}),
        fact("b", {"process": 4, "staff": 5}),
        fact("c", {"process": 1}),
        fact("old", {"process": 1}, fy=2569),
    ]
    numbers = figures.year_numbers(cases, facts, 2570, NOW)
    assert numbers.received == 4
    assert numbers.resolved == 3
    assert numbers.within_deadline_percent == round(100 * 2 / 3, 1)
    assert numbers.median_days_to_resolve == 4.0
    assert dict((q, (p, n)) for q, p, n in numbers.satisfaction) == {
        "process": (round(200 / 3, 1), 3),
        "staff": (50.0, 2),
    }


def test_the_years_statistics_by_category_village_month_and_time_to_resolve() -> None:
    cases = [
        resolved_case("SPT-2570-000001", FY_START + timedelta(days=1), 2, category="road"),
        resolved_case("SPT-2570-000002", FY_START + timedelta(days=40), 10, village_no=5),
        case("SPT-2570-000003", received=FY_START + timedelta(days=45), category="lighting"),
    ]
    stats = figures.year_stats(cases, [fact("a", {"quality": 5}, department="health")], 2570)
    assert stats.by_category == [("road", 2), ("lighting", 1)]
    assert stats.by_village == [(3, 2), (5, 1)]
    months = dict((m, (r, d)) for m, r, d in stats.by_month)
    assert next(iter(months)) == "2026-10" and list(months)[-1] == "2027-09" and len(months) == 12
    assert months["2026-10"] == (1, 1)
    assert months["2026-11"] == (2, 1)  # received 10 and 15 November, one resolved on the 20th
    assert months["2026-12"] == (0, 0)
    assert dict(stats.resolve_bands) == {(0, 3): 1, (3, 7): 0, (7, 15): 1, (15, None): 0}
    assert stats.by_department == {"health": [("quality", 100.0, 1)]}


def test_filters_by_category_village_status_and_month() -> None:
    cases = [
        case("SPT-2570-000001", category="road", village_no=3),
        case("SPT-2570-000002", category="lighting", village_no=4),
        resolved_case("SPT-2570-000003", NOW - timedelta(days=60), 3, category="road"),
    ]

    def ids(chosen: CaseFilter) -> list[str]:
        return [c.case_id for c in figures.listed(cases, chosen)]

    # Newest first: the two of 20 days ago (by number, descending), then the older one.
    assert ids(CaseFilter()) == ["SPT-2570-000002", "SPT-2570-000001", "SPT-2570-000003"]
    assert ids(CaseFilter(category="road")) == ["SPT-2570-000001", "SPT-2570-000003"]
    assert ids(CaseFilter(village="4")) == ["SPT-2570-000002"]
    assert ids(CaseFilter(status="resolved")) == ["SPT-2570-000003"]
    assert ids(CaseFilter(month="2026-10")) == ["SPT-2570-000003"]
    assert CaseFilter.of({"category": "road", "page": "2"}).query() == {"category": "road"}


def test_an_open_data_record_has_exactly_the_dictionarys_fields() -> None:
    record = figures.record(resolved_case("SPT-2570-000001", NOW - timedelta(days=9), 3), NOW)
    assert list(record) == [f[0] for f in figures.FIELDS]
    assert record["respond_deadline"] == "met"
    assert record["resolution"] == "ซ่อมแล้ว"
    open_record = figures.record(case(resolution="left over"), NOW)
    assert open_record["resolution"] is None, "an open case has no resolution to publish"


def test_pages_clamp() -> None:
    items = [case(f"SPT-2570-{n:06d}") for n in range(1, 6)]
    assert figures.page_of(items, 2, 2) == (items[2:4], 2, 3)
    assert figures.page_of(items, 99, 2) == (items[4:], 3, 3)
    assert figures.page_of([], 1, 2) == ([], 1, 1)


def test_pages_open_on_the_current_year_or_the_latest_with_cases() -> None:
    old = resolved_case("SPT-2566-000001", NOW.replace(year=2023, month=5), 3)
    assert figures.shown_year(figures.case_years([]), 2570) == 2570
    assert figures.shown_year(figures.case_years([old]), 2570) == 2566
    assert figures.shown_year(figures.case_years([old, case()]), 2570) == 2570
    # Survey answers count in the year they were given, which the home page may show apart.
    numbers = figures.year_numbers([old], [fact("a", {"staff": 5})], 2566, NOW, 2570)
    assert numbers.received == 1 and numbers.satisfaction == [("staff", 100.0, 1)]
    assert numbers.satisfaction_year == 2570
