"""The survey domain rules: answers, periods, exact figures, alert decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.survey.adapters.config_files import load_config
from services.survey.domain import rules
from services.survey.domain.errors import InvalidAnswers
from services.survey.domain.model import Answer, Response, Slice, WindowRule
from shared.thai import BANGKOK
from tests.survey.builders import answers

CONFIG = load_config()
CASE_Q = CONFIG.case_questionnaire


def fields(exc: InvalidAnswers) -> dict[str, str]:
    return {d["field"]: d["message"] for d in exc.details}


def test_valid_answers_come_back_typed_in_questionnaire_order() -> None:
    parsed = rules.parse_answers(CASE_Q, answers(4, comment="  ขอบคุณครับ  "))
    assert [a.question_id for a in parsed] == [
        "process", "channels", "staff", "facilities", "quality", "fixed", "comment"
    ]  # fmt: skip
    assert parsed[0] == Answer("process", "scale", 4)
    assert parsed[-1] == Answer("comment", "text", "ขอบคุณครับ")


def test_a_score_of_6_is_refused_naming_the_question() -> None:
    with pytest.raises(InvalidAnswers) as caught:
        rules.parse_answers(CASE_Q, answers(5, staff=6))
    assert fields(caught.value) == {"answers.staff": "6 is outside 1-5"}


def test_missing_required_unknown_and_wrong_types_are_each_named() -> None:
    body = answers(5, colour="blue", fixed="maybe", quality=True)
    del body["process"]
    with pytest.raises(InvalidAnswers) as caught:
        rules.parse_answers(CASE_Q, body)
    problems = fields(caught.value)
    assert set(problems) == {
        "answers.colour",
        "answers.process",
        "answers.fixed",
        "answers.quality",
    }
    assert problems["answers.process"] == "required"
    assert problems["answers.colour"] == "unknown question"


def test_thai_digits_are_read_as_scores() -> None:
    parsed = rules.parse_answers(CASE_Q, answers(5, process="๔", channels=" 3 "))
    assert parsed[0].value == 4 and parsed[1].value == 3


def test_answers_must_be_an_object() -> None:
    with pytest.raises(InvalidAnswers) as caught:
        rules.parse_answers(CASE_Q, [5, 5, 5])
    assert list(fields(caught.value)) == ["answers"]


def response(
    at: datetime, department: str | None = "engineering", score: int = 5, rid: str = "r1"
) -> Response:
    return Response(
        response_id=rid,
        org_id="sraphonthong",
        source="case",
        questionnaire_version="case-v1",
        channel="line",
        responded_at=at,
        recorded_at=at,
        answers=rules.parse_answers(CASE_Q, answers(score)),
        department=department,
    )


def test_a_response_counts_in_the_bangkok_fiscal_year_and_month_it_was_given() -> None:
    last_night_of_fy2569 = datetime(2026, 9, 30, 23, 30, tzinfo=BANGKOK)
    first_morning_of_fy2570 = datetime(2026, 10, 1, 0, 10, tzinfo=BANGKOK)
    a, b = response(last_night_of_fy2569), response(first_morning_of_fy2570)
    assert (a.fiscal_year, a.month) == (2569, "2026-09")
    assert (b.fiscal_year, b.month) == (2570, "2026-10")
    # 00:10 in Bangkok is still 30 September in UTC: the Thai calendar decides.
    assert b.responded_at.astimezone(UTC).day == 30


def test_figures_are_exact_integers_from_the_counts() -> None:
    counts: dict[tuple[str, int | str], int] = {
        ("quality", 5): 2,
        ("quality", 4): 1,
        ("quality", 1): 1,
        ("fixed", "no"): 1,
        ("fixed", "yes"): 3,
    }
    bucket = rules.bucket_from_counts(Slice("o", 2569, "org", "o"), 4, counts)
    quality = bucket.tally("quality")
    assert (quality.count, quality.total, quality.satisfied) == (4, 15, 3)
    assert quality.mean == 3.75 and quality.percent_satisfied == 75.0
    fixed = next(q for q in bucket.questions if q.question_id == "fixed")
    assert fixed.distribution == (("no", 1), ("yes", 3)) and fixed.kind == "choice"
    assert bucket.tally().count == 4  # choices are not scores


def test_paper_form_dates_in_buddhist_era_and_thai_digits() -> None:
    expected = datetime(2026, 11, 20, 12, 0, tzinfo=BANGKOK)
    assert rules.parse_form_date("๒๐/๑๑/๒๕๖๙") == expected
    assert rules.parse_form_date("2026-11-20") == expected
    with pytest.raises(ValueError):
        rules.parse_form_date("yesterday")


def test_responded_at_may_not_be_in_the_future_nor_before_the_resolution() -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(InvalidAnswers):
        rules.responded_at(now + timedelta(days=1), now, earliest=now - timedelta(days=5))
    with pytest.raises(InvalidAnswers):
        rules.responded_at(now - timedelta(days=6), now, earliest=now - timedelta(days=5))
    assert rules.responded_at(None, now, earliest=now) == now


def test_window_rule_needs_enough_responses_and_a_low_share() -> None:
    rule = WindowRule(id="low", window_days=90, min_responses=10, threshold_percent=80)
    r = response(datetime(2026, 5, 1, tzinfo=UTC))
    low = rules.bucket_from_counts(Slice("o", 2569, "w", "d"), 10, {("quality", 3): 10})
    high = rules.bucket_from_counts(Slice("o", 2569, "w", "d"), 10, {("quality", 4): 10})
    assert rules.window_alert(rule, r, 9, low.tally(), CONFIG.labels) is None
    assert rules.window_alert(rule, r, 10, high.tally(), CONFIG.labels) is None
    decision = rules.window_alert(rule, r, 10, low.tally(), CONFIG.labels)
    assert decision is not None and decision.window_percent_satisfied == 0.0
    assert "กองช่าง" in decision.description_th
    # The same department in the same month is one alert, whatever response tips it.
    again = rules.window_alert(
        rule,
        response(r.responded_at + timedelta(hours=1), rid="r2"),
        11,
        low.tally(),
        CONFIG.labels,
    )
    assert again is not None and again.alert_id == decision.alert_id


def test_a_score_of_one_and_not_fixed_each_raise_an_alert() -> None:
    r = Response(
        response_id="r9",
        org_id="sraphonthong",
        source="case",
        questionnaire_version="case-v1",
        channel="line",
        responded_at=datetime(2026, 5, 1, tzinfo=UTC),
        recorded_at=datetime(2026, 5, 1, tzinfo=UTC),
        answers=rules.parse_answers(CASE_Q, answers(4, staff=1, fixed="no")),
        case_id="SPT-2569-000009",
        department=None,
    )
    decisions = rules.response_alerts(CONFIG.policy, r, CASE_Q, CONFIG.labels)
    assert sorted(d.rule for d in decisions) == ["not_fixed", "very_dissatisfied"]
    # No department known: the default owner (สำนักปลัด) gets it.
    assert {d.department for d in decisions} == {"office"}
    assert rules.reopen_reason(CASE_Q, r) is not None
