"""The survey service's decisions: what an answer may be, which period and slices a
response counts in, how a slice's figures follow from counted answers, when to alert.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from services.survey.domain.errors import InvalidAnswers, SurveyExpired
from services.survey.domain.model import (
    APPLIED_KEPT,
    DIMENSIONS,
    UNSPECIFIED,
    AlertDecision,
    AlertPolicy,
    Answer,
    AnswerScalar,
    Bucket,
    ChoiceRule,
    DepartmentMonth,
    Figures,
    KeptBucket,
    Labels,
    MonthKey,
    Question,
    Questionnaire,
    QuestionStats,
    Response,
    ScoreRule,
    Slice,
    Survey,
    Tally,
    WindowRule,
)
from shared.clock import to_millis
from shared.events.envelope import new_event_id
from shared.thai import (
    BANGKOK,
    BE_OFFSET,
    THAI_MONTHS_SHORT,
    format_thai_date,
    normalize_text,
    to_bangkok,
)

MAX_COMMENT = 2000
# A score as typed, once Thai digits are read: [0-9] is ASCII only, where str.isdigit()
# passes "²" (which int() refuses), and a few digits are more than any scale has.
_SCORE = re.compile(r"[0-9]{1,6}")
CLOCK_SKEW = timedelta(minutes=5)
# Columns of a paper-form CSV that are not questions.
FORM_COLUMNS = ("form_no", "responded_at")


# ----------------------------------------------------------------------- answers


def _problem(details: list[dict[str, Any]], field: str, message: str, kind: str) -> None:
    details.append({"field": field, "message": message, "type": kind})


def _scale_value(q: Question, questionnaire: Questionnaire, raw: object) -> int | str:
    """The score, or the reason it is not one."""
    value: object = raw
    if isinstance(raw, str):
        text = normalize_text(raw)  # Thai digits (๔) read as numbers
        value = int(text) if _SCORE.fullmatch(text) else raw
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer from {questionnaire.scale.min} to {questionnaire.scale.max}"
    if not questionnaire.scale.min <= value <= questionnaire.scale.max:
        return f"{value} is outside {questionnaire.scale.min}-{questionnaire.scale.max}"
    return value


def parse_answers(questionnaire: Questionnaire, raw: object) -> tuple[Answer, ...]:
    """Answers that fit the questionnaire, in its order; InvalidAnswers names every misfit."""
    details: list[dict[str, Any]] = []
    if not isinstance(raw, Mapping):
        _problem(details, "answers", "must be an object of question id -> answer", "type")
        raise InvalidAnswers(details)
    for key in raw:
        if questionnaire.question(str(key)) is None:
            _problem(details, f"answers.{key}", "unknown question", "unknown_question")
    answers: list[Answer] = []
    for q in questionnaire.questions:
        field = f"answers.{q.id}"
        value = raw.get(q.id)
        if isinstance(value, str) and not normalize_text(value):
            value = None
        if value is None:
            if q.required:
                _problem(details, field, "required", "missing")
            continue
        if q.type == "scale":
            score = _scale_value(q, questionnaire, value)
            if isinstance(score, str):
                _problem(details, field, score, "scale")
            else:
                answers.append(Answer(q.id, "scale", score))
        elif q.type == "choice":
            choice = normalize_text(value) if isinstance(value, str) else value
            if choice not in q.options:
                _problem(details, field, f"must be one of {', '.join(q.options)}", "choice")
            else:
                answers.append(Answer(q.id, "choice", str(choice)))
        else:
            if not isinstance(value, str):
                _problem(details, field, "must be text", "text")
            elif len(value) > MAX_COMMENT:
                _problem(details, field, f"longer than {MAX_COMMENT} characters", "text")
            else:
                answers.append(Answer(q.id, "text", normalize_text(value)))
    if details:
        raise InvalidAnswers(details)
    return tuple(answers)


def answers_from_row(row: Mapping[str, str | None]) -> dict[str, str]:
    """A paper form's CSV row as answers: blank cells are unanswered questions."""
    return {
        k.strip(): v
        for k, v in row.items()
        if k and k.strip() not in FORM_COLUMNS and v is not None and v.strip()
    }


def reopen_reason(questionnaire: Questionnaire, response: Response) -> str | None:
    """Why the case must be reopened, if an answer says the fix did not happen."""
    for q in questionnaire.questions:
        if q.reopens_case_on is not None and response.answer(q.id) == q.reopens_case_on:
            return (
                f"ผู้รับบริการตอบแบบสำรวจ ({response.response_id}) ว่า"
                f"ปัญหายังไม่ได้รับการแก้ไขจริง: {q.label_th}"
            )
    return None


# ----------------------------------------------------------------------- time


def check_open(survey: Survey, at: datetime) -> None:
    if at > survey.expires_at:
        raise SurveyExpired(f"survey {survey.survey_id} expired {survey.expires_at.isoformat()}")


def responded_at(given: datetime | None, now: datetime, earliest: datetime) -> datetime:
    """When the answers were given: the form's own date if keyed in later, else now.

    A response counts in the period it was given in, so a paper form keyed in after the
    month closed still lands in its month (the aggregates are recomputed per slice).
    """
    if given is None:
        return to_millis(now)
    if given.tzinfo is None:
        given = given.replace(tzinfo=BANGKOK)
    if given > now + CLOCK_SKEW:
        raise InvalidAnswers(
            [{"field": "responded_at", "message": "is in the future", "type": "date"}]
        )
    if given < earliest:
        raise InvalidAnswers(
            [
                {
                    "field": "responded_at",
                    "message": f"is before {earliest.isoformat()}",
                    "type": "date",
                }
            ]
        )
    return to_millis(given)


_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def parse_form_date(text: str, now: datetime | None = None) -> datetime:
    """A date written on a paper form: 2026-11-20, 20/11/2569 or ๒๐/๑๑/๒๕๖๙, or ISO time.

    Years past 2400 are Buddhist Era. A bare date means noon in Bangkok, safely inside
    that day whichever way the clock is read; today's date keyed in before noon means now.
    """
    value = normalize_text(text)
    if match := _YMD.match(value):
        y, m, d = (int(g) for g in match.groups())
    elif match := _DMY.match(value):
        d, m, y = (int(g) for g in match.groups())
    else:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=BANGKOK)
    if y > 2400:
        y -= BE_OFFSET
    noon = datetime.combine(date(y, m, d), datetime.min.time(), BANGKOK).replace(hour=12)
    return (
        min(noon, now)
        if now is not None and noon.date() == now.astimezone(BANGKOK).date()
        else noon
    )


# ----------------------------------------------------------------------- aggregates


def slices_of(response: Response) -> list[Slice]:
    return [
        Slice(response.org_id, response.fiscal_year, by, response.slice_value(by))
        for by in DIMENSIONS
    ]


def _sort_key(value: str) -> tuple[int, str]:
    return (0, f"{int(value):09d}") if value.isdigit() else (1, value)


def bucket_from_counts(
    slice_: Slice, responses: int, counts: Mapping[tuple[str, AnswerScalar], int]
) -> Bucket:
    """A slice's figures from how many times each (question, answer) was given.

    Only integer counts are kept; the sum of scores is derived from the counts, so the
    store needs no more than a $group with $sum.
    """
    by_question: dict[str, dict[str, int]] = {}
    kinds: dict[str, str] = {}
    totals: dict[str, int] = {}
    for (question_id, value), n in counts.items():
        if n <= 0:
            continue
        is_scale = isinstance(value, int) and not isinstance(value, bool)
        kinds[question_id] = "scale" if is_scale else "choice"
        dist = by_question.setdefault(question_id, {})
        dist[str(value)] = dist.get(str(value), 0) + n
        if is_scale:
            assert isinstance(value, int)
            totals[question_id] = totals.get(question_id, 0) + value * n
    questions = tuple(
        QuestionStats(
            question_id=qid,
            kind="scale" if kinds[qid] == "scale" else "choice",
            count=sum(dist.values()),
            total=totals.get(qid, 0),
            distribution=tuple(sorted(dist.items(), key=lambda kv: _sort_key(kv[0]))),
        )
        for qid, dist in sorted(by_question.items())
    )
    return Bucket(slice_, responses, questions)


def counts_of(bucket: Bucket) -> dict[tuple[str, AnswerScalar], int]:
    """The (question, answer) counts a bucket was derived from (bucket_from_counts undone):
    a stored bucket keeps only integer counts, so it can be added to exactly."""
    counts: dict[tuple[str, AnswerScalar], int] = {}
    for q in bucket.questions:
        for value, n in q.distribution:
            counts[(q.question_id, int(value) if q.kind == "scale" else value)] = n
    return counts


def bucket_of(kept: KeptBucket) -> Bucket:
    return bucket_from_counts(kept.slice, kept.figures.responses, kept.figures.counts)


def figures_of(response: Response) -> Figures:
    """What one response adds to every bucket and day it falls in."""
    counts: dict[tuple[str, AnswerScalar], int] = {}
    for a in response.scored:
        counts[(a.question_id, a.value)] = counts.get((a.question_id, a.value), 0) + 1
    return Figures(1, counts)


def remember(applied: Sequence[str], response_id: str) -> tuple[str, ...]:
    return (*applied, response_id)[-APPLIED_KEPT:]


def count_in(
    current: KeptBucket | None, slice_: Slice, response_id: str, added: Figures
) -> KeptBucket | None:
    """The bucket with one more response, or None if it has that response already."""
    if current is not None and response_id in current.applied:
        return None
    base = current or KeptBucket(slice_, Figures())
    return KeptBucket(slice_, base.figures + added, remember(base.applied, response_id))


def month_of(response: Response) -> MonthKey | None:
    """Where a response is kept for trailing windows; None if no window can be about it
    (a window alert names a department)."""
    department = response.department
    if not department or department == UNSPECIFIED:
        return None
    return MonthKey(response.org_id, department, response.month)


def day_of(response: Response) -> date:
    return to_bangkok(response.responded_at).date()


def count_in_month(
    current: DepartmentMonth | None, key: MonthKey, day: int, response_id: str, added: Figures
) -> DepartmentMonth | None:
    """The month with one more response on `day`, or None if it has that response already."""
    if current is not None and response_id in current.applied:
        return None
    days = dict(current.days) if current else {}
    days[day] = days.get(day, Figures()) + added
    applied = current.applied if current else ()
    return DepartmentMonth(key, days, remember(applied, response_id))


class Unseen(Exception):
    """A kept aggregate names responses the recount did not see: load them, decide again."""

    def __init__(self, response_ids: list[str]) -> None:
        super().__init__(f"{len(response_ids)} responses added while the recount ran")
        self.response_ids = response_ids


def _recount_applied(
    applied: Sequence[str],
    uncounted: Sequence[str],
    scanned: Container[str],
    late: Mapping[str, Response | None],
) -> tuple[tuple[str, ...], list[Response]]:
    """The applied ids a recounted aggregate keeps, and the responses it must add to the
    recount because they were added live while the recount read (so it did not see them).

    Kept: every id whose response the new figures include (recounted, or added late), then
    the recounted responses not yet marked counted, so that a delivery of them still in
    flight skips what the recount already holds.
    """
    unknown = [i for i in applied if i not in scanned and i not in late]
    if unknown:
        raise Unseen(unknown)
    added = [r for i in applied if i not in scanned and (r := late[i]) is not None]
    kept = tuple(i for i in applied if i in scanned or late.get(i) is not None)
    present = set(kept)
    return kept + tuple(i for i in uncounted if i not in present), added


def recount_bucket(
    current: KeptBucket | None,
    slice_: Slice,
    figures: Figures,
    uncounted: Sequence[str],
    scanned: Container[str],
    late: Mapping[str, Response | None],
) -> KeptBucket | None:
    """A bucket as a full recount makes it; None if it is so already."""
    applied, added = _recount_applied(current.applied if current else (), uncounted, scanned, late)
    for response in added:
        figures = figures + figures_of(response)
    new = KeptBucket(slice_, figures, applied)
    return None if new == current else new


def recount_month(
    current: DepartmentMonth | None,
    key: MonthKey,
    days: Mapping[int, Figures],
    uncounted: Sequence[str],
    scanned: Container[str],
    late: Mapping[str, Response | None],
) -> DepartmentMonth | None:
    applied, added = _recount_applied(current.applied if current else (), uncounted, scanned, late)
    recounted = dict(days)
    for response in added:
        day = day_of(response).day
        recounted[day] = recounted.get(day, Figures()) + figures_of(response)
    new = DepartmentMonth(key, recounted, applied)
    return None if new == current else new


# ----------------------------------------------------------------------- alerts


def _alert_id(*parts: str) -> str:
    return str(new_event_id("satisfaction-alert", *parts))


def _department(response: Response, policy: AlertPolicy) -> str:
    return response.department or policy.default_department


def response_alerts(
    policy: AlertPolicy, response: Response, questionnaire: Questionnaire, labels: Labels
) -> list[AlertDecision]:
    """Alerts one response raises by itself: a score of 1, a fix that did not happen."""
    decisions: list[AlertDecision] = []
    department = _department(response, policy)
    subject = (
        f"เรื่อง {response.case_id}"
        if response.case_id
        else (
            f"แบบสำรวจ {response.campaign_id} (แบบฟอร์ม {response.form_no or response.response_id})"
        )
    )
    for rule in policy.rules:
        if isinstance(rule, ScoreRule):
            low = [a for a in response.answers if a.type == "scale" and a.value == rule.score]
            if not low:
                continue
            names = ", ".join(
                (questionnaire.question(a.question_id) or _unknown(a)).label_th for a in low
            )
            text = (
                f"ผลสำรวจความพึงพอใจ{subject} ได้คะแนน {rule.score} (ไม่พอใจมาก) ใน{names}"
                f" ขอให้{labels.departments.get(department, department)}ตรวจสอบสาเหตุ"
                " และรายงานการปรับปรุงการให้บริการ"
            )
        elif isinstance(rule, ChoiceRule):
            if response.answer(rule.question) != rule.value:
                continue
            text = (
                f"ผู้รับบริการแจ้งว่าปัญหา{subject} ยังไม่ได้รับการแก้ไขจริง"
                f" ขอให้{labels.departments.get(department, department)}ตรวจสอบผลการแก้ไขในพื้นที่"
                " และดำเนินการให้แล้วเสร็จ"
            )
        else:
            continue
        decisions.append(
            AlertDecision(
                alert_id=_alert_id(response.org_id, rule.id, response.response_id),
                rule=rule.id,
                department=department,
                description_th=text,
                fiscal_year=response.fiscal_year,
                response_id=response.response_id,
                case_id=response.case_id,
            )
        )
    return decisions


def _unknown(answer: Answer) -> Question:
    return Question(
        id="unknown", type="scale", label_th=answer.question_id, label_en=answer.question_id
    )


def window_rules(policy: AlertPolicy) -> list[WindowRule]:
    return [r for r in policy.rules if isinstance(r, WindowRule)]


def window_of(rule: WindowRule, response: Response) -> tuple[date, date]:
    """The first and last day (Bangkok) of the trailing window a response closes: the
    `window_days` whole days that end with the day it was given.

    Whole days, because the window is summed from per-day figures. Anchored on the
    response's own day, not on the clock, so a replay judges the same days.
    """
    last = day_of(response)
    return last - timedelta(days=rule.window_days - 1), last


def window_months(response: Response, first: date, last: date) -> list[MonthKey]:
    """The department months a window of days spans (four at most for 90 days)."""
    key = month_of(response)
    if key is None:
        return []
    months: list[MonthKey] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(MonthKey(key.org_id, key.department, f"{year:04d}-{month:02d}"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def window_figures(months: Iterable[DepartmentMonth], first: date, last: date) -> Figures:
    """The sum of the days from first to last (inclusive) that the months hold."""
    total = Figures()
    for m in months:
        year, month = (int(p) for p in m.of.month.split("-"))
        for day, figures in m.days.items():
            if first <= date(year, month, day) <= last:
                total = total + figures
    return total


def window_alert(
    rule: WindowRule,
    response: Response,
    responses: int,
    tally: Tally,
    labels: Labels,
) -> AlertDecision | None:
    """A department below the threshold over the window, with enough responses to judge.

    At most one alert per department and rule per month: a persistently poor result
    is one matter to act on, not one alert per response.
    """
    department = response.department
    if not department or department == UNSPECIFIED or responses < rule.min_responses:
        return None
    percent = tally.percent_satisfied
    if percent is None or percent >= rule.threshold_percent:
        return None
    first, last = window_of(rule, response)
    name = labels.departments.get(department, department)
    text = (
        f"ร้อยละความพึงพอใจของ{name} ช่วง {rule.window_days} วันล่าสุด"
        f" ({format_thai_date(first)} - {format_thai_date(last)}) เท่ากับ {percent:.2f}"
        f" จาก {responses} แบบสำรวจ ต่ำกว่าเกณฑ์ร้อยละ {rule.threshold_percent:g}"
        " ขอให้หัวหน้าส่วนราชการจัดทำแผนปรับปรุงการให้บริการ"
    )
    return AlertDecision(
        alert_id=_alert_id(response.org_id, rule.id, department, response.month),
        rule=rule.id,
        department=department,
        description_th=text,
        fiscal_year=response.fiscal_year,
        response_id=response.response_id,
        window_responses=responses,
        window_percent_satisfied=percent,
    )


def merge_tallies(tallies: Iterable[Tally]) -> Tally:
    result = Tally()
    for t in tallies:
        result = result + t
    return result


def month_label_th(month: str) -> str:
    """'2026-11' -> 'พ.ย. 69' (short Thai month, two-digit Buddhist-Era year)."""
    year, mon = (int(p) for p in month.split("-"))
    return f"{THAI_MONTHS_SHORT[mon - 1]} {(year + BE_OFFSET) % 100:02d}"


def fiscal_months(fiscal_year: int) -> list[str]:
    """The twelve months of a fiscal year, October first, as YYYY-MM (Common Era)."""
    end = fiscal_year - BE_OFFSET
    return [f"{end - 1}-{m:02d}" for m in (10, 11, 12)] + [f"{end}-{m:02d}" for m in range(1, 10)]
