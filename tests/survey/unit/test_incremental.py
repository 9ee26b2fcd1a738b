"""Aggregates kept by adding each response once: exact, idempotent, and as cheap per
response with 10 stored as with 300 (docs/survey-aggregates.md)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.survey.adapters.mongo_surveys import (
    applied_from_field,
    applied_to_field,
    kept_from_document,
    kept_to_document,
    month_from_document,
    month_to_document,
)
from services.survey.domain import rules
from services.survey.domain.model import (
    APPLIED_KEPT,
    Bucket,
    DepartmentMonth,
    Figures,
    KeptBucket,
    MonthKey,
    Response,
    ResponseSubmission,
    Slice,
    WindowRule,
)
from services.survey.ports import StoredResponse
from shared.events.survey import SurveyResponded
from shared.topics import Topic
from tests.survey.builders import NOW, ORG, Wired, answers, resolved, wired
from tests.survey.fakes import SimulatedCrash

DEPARTMENTS = ("engineering", "office", "health")
CHANNELS = ("line", "phone", "traffy")


async def respond_many(w: Wired, n: int, seed: int, *, first: int = 0) -> list[SurveyResponded]:
    """n responses spread over 200 days (two fiscal years), every few a paper campaign form;
    returns their survey.responded events."""
    rng = random.Random(seed)
    before = len(w.publisher.on(Topic.SURVEY_RESPONDED))
    for i in range(first, first + n):
        at = NOW - timedelta(days=rng.randint(0, 200), hours=rng.randint(0, 23))
        body = answers(rng.randint(1, 5), fixed=rng.choice(["yes", "no", "dont_know"]))
        if i % 5 == 4:
            form = {k: v for k, v in body.items() if k != "fixed"}
            form["respondent"] = "service_user"
            await w.handlers.respond_campaign(
                "general-2569",
                ResponseSubmission(answers=form, form_no=f"F{i:04d}", responded_at=at),
            )
            continue
        survey = await w.handlers.on_case_resolved(
            resolved(
                f"SPT-2569-{i:06d}",
                department=rng.choice(DEPARTMENTS),
                channel=rng.choice(CHANNELS),
                category=rng.choice(["road", "water", None]),
                at=NOW - timedelta(days=201),
            )
        )
        assert survey is not None
        await w.handlers.respond(survey.token, ResponseSubmission(answers=body, responded_at=at))
    published = w.publisher.on(Topic.SURVEY_RESPONDED)[before:]
    return [SurveyResponded.model_validate(e) for e in published]


def recount(responses: list[Response]) -> tuple[dict[str, Bucket], dict[str, dict[date, Figures]]]:
    """The figures straight from the stored responses, by brute force."""
    sizes: Counter[Slice] = Counter()
    counts: dict[Slice, Counter[tuple[str, int | str]]] = {}
    days: dict[str, dict[date, Figures]] = {}
    for r in responses:
        for slice_ in rules.slices_of(r):
            sizes[slice_] += 1
            tally = counts.setdefault(slice_, Counter())
            for a in r.scored:
                tally[(a.question_id, a.value)] += 1
        if r.department:
            by_day = days.setdefault(r.department, {})
            by_day[rules.day_of(r)] = by_day.get(rules.day_of(r), Figures()) + rules.figures_of(r)
    buckets = {s.key: rules.bucket_from_counts(s, sizes[s], counts[s]) for s in sizes}
    return buckets, days


async def assert_exact(w: Wired) -> None:
    """Every bucket, every department day and every window equals the brute-force recount."""
    stored = w.responses.all()
    buckets, days = recount(stored)
    assert {b.slice.key: b for b in await w.aggregates.all()} == buckets
    kept_days: dict[str, dict[date, Figures]] = {}
    for m in await w.aggregates.all_months():
        year, month = (int(p) for p in m.of.month.split("-"))
        for day, figures in m.days.items():
            kept_days.setdefault(m.of.department, {})[date(year, month, day)] = figures
    assert kept_days == days
    rule = WindowRule(id="w", window_days=90)
    for r in stored:
        if not r.department:
            continue
        first, last = rules.window_of(rule, r)
        months = [await w.aggregates.month(k) for k in rules.window_months(r, first, last)]
        window = rules.window_figures([m for m in months if m], first, last)
        expected = Figures()
        for when, figures in days[r.department].items():
            if first <= when <= last:
                expected = expected + figures
        assert window == expected


async def test_incremental_figures_equal_a_full_recount_despite_crashes_and_redeliveries() -> None:
    w = wired(NOW + timedelta(days=250))
    events = await respond_many(w, 60, seed=7)
    rng = random.Random(11)
    queue = events + rng.sample(events, k=20)  # Kafka delivers some twice
    rng.shuffle(queue)
    crashes = 0
    while queue:
        event = queue.pop(0)
        if rng.random() < 0.3:  # the process dies part-way: between buckets, or before marking
            if rng.random() < 0.8:
                w.aggregates.crash_after_writes = rng.randint(0, 6)
            else:
                w.responses.crash_before_marking = 1
        try:
            await w.handlers.on_survey_responded(event)
        except SimulatedCrash:
            crashes += 1
            queue.insert(rng.randint(0, len(queue)), event)  # redelivered after the restart
        w.aggregates.crash_after_writes, w.responses.crash_before_marking = None, 0
    assert crashes > 5
    assert w.responses.counted == {r.response_id for r in w.responses.all()}
    await assert_exact(w)

    # The operator's recount agrees with what was kept, and changes no figure.
    before = await w.aggregates.all()
    months_before = [(m.of, m.days) for m in await w.aggregates.all_months()]
    result = await w.handlers.rebuild()
    assert result["responses"] == 60 and result["removed"] == 0
    assert await w.aggregates.all() == before
    assert [(m.of, m.days) for m in await w.aggregates.all_months()] == months_before
    w.aggregates.clear()
    await w.handlers.rebuild()
    assert await w.aggregates.all() == before
    assert [(m.of, m.days) for m in await w.aggregates.all_months()] == months_before
    # After a rebuild, a replay of the whole topic still counts nothing twice.
    for event in events:
        await w.handlers.on_survey_responded(event)
    await assert_exact(w)


async def test_a_redelivery_after_a_crash_skips_the_buckets_it_reached() -> None:
    w = wired()
    (event,) = await respond_many(w, 1, seed=1)
    w.aggregates.crash_after_writes = 3  # org, department, category written; then dead
    try:
        await w.handlers.on_survey_responded(event)
    except SimulatedCrash:
        pass
    else:
        raise AssertionError("the fake did not crash")
    assert w.responses.counted == set()
    writes = Counter({k: v for k, v in w.ops.counts.items() if k.startswith("buckets.")})
    await w.handlers.on_survey_responded(event)
    new = Counter({k: v for k, v in w.ops.counts.items() if k.startswith("buckets.")}) - writes
    # All six read again; only the three it had not reached written.
    assert new == Counter({"buckets.find": 6, "buckets.insert": 3})
    assert {b.slice.by: b.responses for b in await w.aggregates.all()} == dict.fromkeys(
        ("org", "department", "category", "channel", "month", "source"), 1
    )
    before = w.ops.total()
    await w.handlers.on_survey_responded(event)  # counted now: one read, nothing else
    assert w.ops.total() - before == 1
    await assert_exact(w)


async def test_a_bucket_remembers_the_last_responses_it_took_and_no_more() -> None:
    slice_ = Slice(ORG, 2569, "org", ORG)
    one = Figures(1, {("quality", 5): 1})
    kept = None
    for n in range(APPLIED_KEPT + 10):
        kept = rules.count_in(kept, slice_, f"r{n}", one)
    assert kept is not None and kept.figures == Figures(APPLIED_KEPT + 10, {("quality", 5): 510})
    assert len(kept.applied) == APPLIED_KEPT and kept.applied[-1] == f"r{APPLIED_KEPT + 9}"
    assert rules.count_in(kept, slice_, f"r{APPLIED_KEPT + 9}", one) is None


async def test_the_per_event_path_reads_by_id_only_and_costs_the_same_at_10_and_300() -> None:
    w = wired()
    w.ops.scans_allowed = False  # a query over responses, buckets or months now fails
    costs = []
    for n in range(300):
        survey = await w.handlers.on_case_resolved(resolved(f"SPT-2569-{n:06d}"))
        assert survey is not None
        # Satisfied, so no alert adds its own writes to the count.
        await w.handlers.respond(survey.token, ResponseSubmission(answers=answers(5)))
        (event,) = w.publisher.on(Topic.SURVEY_RESPONDED)[-1:]
        before = Counter(w.ops.counts)
        await w.handlers.on_survey_responded(SurveyResponded.model_validate(event))
        costs.append(Counter(w.ops.counts) - before)
    assert costs[10] == costs[299]
    # load; six buckets and the department's month read and written; the window's three
    # earlier months read (mid-May: Feb, Mar, Apr); marked counted.
    assert costs[299] == Counter(
        {
            "responses.find": 1,
            "buckets.find": 6,
            "buckets.replace": 6,
            "days.find": 4,
            "days.replace": 1,
            "responses.update": 1,
        }
    )
    org = await w.aggregates.get(Slice(ORG, 2569, "org", ORG))
    assert org is not None and org.responses == 300


async def test_a_rebuild_while_responses_arrive_loses_none_and_counts_none_twice() -> None:
    w = wired(NOW + timedelta(days=250))
    early = await respond_many(w, 10, seed=3)
    for event in early[:6]:
        await w.handlers.on_survey_responded(event)
    # Stored before the recount reads, counted live only after it: the rebuild has them.
    waiting = early[6:]
    arriving = await respond_many(w, 4, seed=4, first=100)
    scan = w.responses.scan
    later = {e.payload.response_id for e in arriving}

    async def scan_then_more_arrive() -> AsyncIterator[StoredResponse]:
        async for stored in scan():
            if stored.response.response_id not in later:
                yield stored
        # While the recount computes, four responses are stored and counted live.
        for event in arriving:
            await w.handlers.on_survey_responded(event)

    w.responses.scan = scan_then_more_arrive  # type: ignore[method-assign]
    await w.handlers.rebuild()
    w.responses.scan = scan  # type: ignore[method-assign]
    for event in waiting + arriving:  # the deliveries still in flight, and a replay
        await w.handlers.on_survey_responded(event)
    await assert_exact(w)


def test_a_window_of_90_days_is_whole_days_over_at_most_four_months() -> None:
    rule = WindowRule(id="w", window_days=90)
    r = Response(
        response_id="r",
        org_id=ORG,
        source="case",
        questionnaire_version="case-v1",
        channel="line",
        responded_at=NOW.replace(month=3, day=1),  # 1 March, 10:00 Bangkok
        recorded_at=NOW,
        answers=(),
        department="engineering",
    )
    first, last = rules.window_of(rule, r)
    assert (first, last) == (date(2025, 12, 2), date(2026, 3, 1))
    months = rules.window_months(r, first, last)
    assert [m.month for m in months] == ["2025-12", "2026-01", "2026-02", "2026-03"]
    one = Figures(1, {("quality", 4): 1})
    outside = rules.count_in_month(None, months[0], 1, "a", one)  # 1 December
    dec = rules.count_in_month(outside, months[0], 2, "b", one)
    assert dec is not None
    mar = rules.count_in_month(None, MonthKey(ORG, "engineering", "2026-03"), 1, "c", one)
    assert mar is not None
    assert rules.window_figures([dec, mar], first, last) == Figures(2, {("quality", 4): 2})


@given(st.lists(st.text(min_size=1, max_size=20), max_size=30))
def test_applied_ids_survive_their_one_string_form(ids: list[str]) -> None:
    assert applied_from_field(applied_to_field(ids)) == tuple(ids)


def test_kept_figures_survive_their_documents() -> None:
    counts: dict[tuple[str, int | str], int] = {
        ("quality", 5): 3,
        ("quality", 2): 1,
        ("fixed", "no"): 2,
        ("respondent", "5"): 1,
    }
    kept = KeptBucket(Slice(ORG, 2569, "month", "2026-05"), Figures(4, counts), ("a b", "c%"))
    assert kept_from_document(kept_to_document(kept)) == kept
    month = DepartmentMonth(
        MonthKey(ORG, "engineering", "2026-05"), {1: Figures(4, counts), 31: Figures(1, {})}, ("x",)
    )
    assert month_from_document(month_to_document(month)) == month
