"""The legal clock: working days, holidays, the 15-day reply, pauses, timers, escalation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.calendar import WorkCalendar
from services.routing.domain.lifecycle import (
    Command,
    Escalated,
    Reminded,
    apply_command,
    calendar_of,
    fire_due,
    receive,
)
from services.routing.domain.model import Case, CategoryScore
from shared.taxonomy import by_code
from shared.thai import BANGKOK, to_bangkok
from tests.routing.fakes import shipped_directory

D = shipped_directory()
CAL = calendar_of(D)
HOLIDAYS = D.holiday_dates()

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 15), timezones=st.just(UTC)
)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 15))


def test_weekends_and_public_holidays_are_not_working_days() -> None:
    assert not CAL.is_working_day(date(2026, 5, 2))  # Saturday
    assert not CAL.is_working_day(date(2026, 5, 3))  # Sunday
    assert not CAL.is_working_day(date(2026, 5, 4))  # วันฉัตรมงคล, a Monday
    assert CAL.is_working_day(date(2026, 5, 5))
    assert not CAL.is_working_day(date(2026, 4, 14))  # สงกรานต์


def test_acknowledge_by_close_of_the_next_working_day_skipping_weekend_and_holiday() -> None:
    friday_10am = datetime(2026, 5, 1, 10, 0, tzinfo=BANGKOK)
    due = CAL.acknowledge_due(friday_10am, 1)
    # Sat, Sun, Mon 4 May (holiday) are skipped: Tuesday 5 May, 16:30.
    assert due == datetime(2026, 5, 5, 16, 30, tzinfo=BANGKOK)


@given(days, st.integers(min_value=0, max_value=10))
@settings(max_examples=300, deadline=None)
def test_adding_working_days_lands_on_a_working_day_after_exactly_n_of_them(
    d: date, n: int
) -> None:
    due = CAL.add_working_days(d, n)
    assert CAL.is_working_day(due) and due >= d
    if n > 0:
        assert CAL.working_days_between(d, due) == n
    else:
        assert CAL.working_days_between(d, due) == (0 if CAL.is_working_day(d) else 1)


@given(days, st.integers(min_value=0, max_value=8), st.integers(min_value=0, max_value=8))
@settings(max_examples=200, deadline=None)
def test_more_working_days_never_mean_an_earlier_deadline(d: date, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert CAL.add_working_days(d, lo) <= CAL.add_working_days(d, hi)


@given(moments, st.integers(min_value=0, max_value=5))
@settings(max_examples=200, deadline=None)
def test_acknowledgement_is_due_at_closing_time_of_a_working_day_after_receipt(
    at: datetime, n: int
) -> None:
    due = CAL.acknowledge_due(at, n)
    local = to_bangkok(due)
    assert due > at and CAL.is_working_day(local.date())
    assert (local.hour, local.minute) == (16, 30)


@given(st.sets(days, max_size=30), days)
@settings(max_examples=100, deadline=None)
def test_any_holiday_calendar_is_respected(holidays: set[date], d: date) -> None:
    cal = WorkCalendar.of(holidays)
    due = cal.add_working_days(d, 2)
    assert due not in holidays and due.weekday() < 5


def _case(received_at: datetime, kind: str = "complaint") -> Case:
    return Case(
        case_id="SPT-2569-000001",
        org_id="sraphonthong",
        kind=kind,
        channel="letter",
        text="ถนนพัง",
        received_at=received_at,
    )


def _rank(code: str = "road") -> list[CategoryScore]:
    c = by_code(code)
    return [CategoryScore(c.code, c.label_th, c.label_en, 0.9)]


@given(moments)
@settings(max_examples=100, deadline=None)
def test_a_fresh_case_must_be_answered_15_days_after_receipt(received_at: datetime) -> None:
    received_at = received_at.replace(microsecond=0)
    case = _case(received_at)
    facts = receive(case, _rank(), D, {}, received_at + timedelta(minutes=1))
    assert case.respond_due_at is not None
    assert case.respond_due_at - case.received_at == timedelta(days=15)
    assert not any(isinstance(f, Escalated) for f in facts)
    assert not case.is_overdue(received_at + timedelta(days=14, hours=23))
    assert case.is_overdue(received_at + timedelta(days=15, seconds=1))


def test_a_category_may_be_stricter_than_the_law() -> None:
    now = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)
    case = _case(now)
    receive(case, _rank("disaster_relief"), D, {}, now)
    assert case.respond_due_at == now + timedelta(days=3)


def test_a_letter_received_20_days_ago_is_overdue_and_escalated_on_arrival() -> None:
    now = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)
    case = _case(now - timedelta(days=20))
    facts = receive(case, _rank(), D, {}, now)
    assert case.is_overdue(now)
    escalations = [f for f in facts if isinstance(f, Escalated)]
    # breach at day 15 -> head of division; day 18 -> ปลัด; day 21 (tomorrow) -> นายก
    assert [(e.level, e.to_officer_id) for e in escalations] == [(1, "eng-head"), (2, "palad")]
    assert not any(isinstance(f, Reminded) for f in facts)  # no warning about the past
    assert case.escalation_level == 2
    assert [t.key for t in case.timers] == ["esc:1:3"]
    assert case.next_timer_at == case.received_at + timedelta(days=21)


def test_timers_warn_then_escalate_up_the_chain_each_once() -> None:
    start = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    case = _case(start)
    receive(case, _rank(), D, {}, start)
    seen: list[str] = []
    for day in range(0, 30):
        for fact in fire_due(case, start + timedelta(days=day, hours=1), D):
            seen.append(
                f"{type(fact).__name__}:{getattr(fact, 'template', '')}{getattr(fact, 'level', '')}"
            )
    assert seen == [
        "Reminded:acknowledge_overdue",
        "Reminded:deadline_warning",
        "Escalated:1",
        "Escalated:2",
        "Escalated:3",
    ]
    assert case.timers == [] and case.next_timer_at is None
    assert fire_due(case, start + timedelta(days=90), D) == []


def test_a_corruption_report_escalates_past_the_division_to_the_mayor() -> None:
    start = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    case = _case(start - timedelta(days=16), kind="corruption_report")
    case.text = "กองช่างทุจริต"
    facts = receive(case, _rank("corruption"), D, {}, start)
    assert case.officer_id == "palad"
    assert [(f.level, f.to_officer_id) for f in facts if isinstance(f, Escalated)] == [(3, "nayok")]


def test_waiting_for_the_citizen_pauses_the_clock() -> None:
    start = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    case = _case(start)
    receive(case, _rank(), D, {}, start)
    due = case.respond_due_at
    assert due is not None
    apply_command(
        case,
        Command("request_info", "eng-somchai", {"question": "ขอพิกัด"}),
        start + timedelta(days=10),
        D,
        {},
    )
    assert case.timers == [] and case.status == "pending_citizen"
    assert not case.is_overdue(start + timedelta(days=40))  # the clock stands still
    apply_command(case, Command("start", "eng-somchai"), start + timedelta(days=17), D, {})
    assert case.respond_due_at == due + timedelta(days=7)
    assert fire_due(case, due + timedelta(days=1), D) == []


@given(st.integers(min_value=0, max_value=14 * 24), st.integers(min_value=0, max_value=60 * 24))
@settings(max_examples=100, deadline=None)
def test_a_pause_pushes_the_deadline_by_exactly_the_time_waited(
    before_h: int, waited_h: int
) -> None:
    start = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    case = _case(start)
    receive(case, _rank(), D, {}, start)
    due = case.respond_due_at
    assert due is not None
    paused = start + timedelta(hours=before_h)
    apply_command(case, Command("request_info", "eng-somchai"), paused, D, {})
    apply_command(case, Command("start", "eng-somchai"), paused + timedelta(hours=waited_h), D, {})
    assert case.respond_due_at == due + timedelta(hours=waited_h)
    assert case.respond_due_at >= due
