"""What the survey service knows: questionnaires, surveys, responses, aggregates, alerts.

Pure: no I/O, no framework. Configuration (questionnaires, campaigns, alert rules) is
validated here as pydantic models; the files are read by an adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.thai import fiscal_year_be, to_bangkok

QuestionType = Literal["scale", "choice", "text"]
AnswerScalar = int | str

# A scale answer counts as "satisfied" from this score up (4 = satisfied, 5 = very).
SATISFIED_FROM = 4
# The slices every aggregate is kept by; "org" is the organisation's total.
DIMENSIONS = ("org", "department", "category", "channel", "month", "source")
# Stands for "not known" in a slice (a campaign form names no department).
UNSPECIFIED = "unspecified"
# How many of the response ids last added to a kept bucket (or department month) it
# remembers: enough to skip a redelivery that follows a crash, see docs/survey-aggregates.md.
APPLIED_KEPT = 500


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scale(_Config):
    min: int = 1
    max: int = 5
    labels_th: tuple[str, ...] = ()
    labels_en: tuple[str, ...] = ()


class Question(_Config):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")  # a Mongo-safe key: no '.', no '$'
    type: QuestionType
    required: bool = False
    label_th: str
    label_en: str
    options: tuple[str, ...] = ()
    option_labels_th: dict[str, str] = Field(default_factory=dict)
    option_labels_en: dict[str, str] = Field(default_factory=dict)
    # For a choice: the option that means "the fix exists only on paper".
    reopens_case_on: str | None = None

    @model_validator(mode="after")
    def _options_fit(self) -> Question:
        if self.type == "choice" and not self.options:
            raise ValueError(f"choice question {self.id} needs options")
        if self.reopens_case_on is not None and self.reopens_case_on not in self.options:
            raise ValueError(f"{self.id}: reopens_case_on must be one of its options")
        return self


class Questionnaire(_Config):
    version: str
    title_th: str
    title_en: str
    scale: Scale = Scale()
    questions: tuple[Question, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Questionnaire:
        ids = [q.id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{self.version}: question ids must be unique")
        return self

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def view(self) -> dict[str, Any]:
        """The questionnaire as the answering API shows it."""
        questions = []
        for q in self.questions:
            item: dict[str, Any] = {
                "id": q.id,
                "type": q.type,
                "required": q.required,
                "label_th": q.label_th,
                "label_en": q.label_en,
            }
            if q.type == "choice":
                item["options"] = list(q.options)
                item["option_labels_th"] = dict(q.option_labels_th)
                item["option_labels_en"] = dict(q.option_labels_en)
            if q.type == "scale":
                item["min"], item["max"] = self.scale.min, self.scale.max
                item["scale_labels_th"] = list(self.scale.labels_th)
                item["scale_labels_en"] = list(self.scale.labels_en)
            questions.append(item)
        return {
            "version": self.version,
            "title_th": self.title_th,
            "title_en": self.title_en,
            "questions": questions,
        }


class Campaign(_Config):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    title_th: str
    title_en: str
    questionnaire: str
    opens: date  # Bangkok calendar days, inclusive
    closes: date

    def is_open_on(self, moment: datetime) -> bool:
        return self.opens <= to_bangkok(moment).date() <= self.closes


class WindowRule(_Config):
    """A department's share of satisfied scores over a trailing window is too low."""

    id: str
    type: Literal["window"] = "window"
    window_days: int = Field(default=90, ge=1)
    min_responses: int = Field(default=10, ge=1)
    threshold_percent: float = Field(default=80.0, gt=0, le=100)


class ScoreRule(_Config):
    """Any single scale answer at this score."""

    id: str
    type: Literal["score"] = "score"
    score: int = 1


class ChoiceRule(_Config):
    """A given option of a choice question (e.g. fixed = no)."""

    id: str
    type: Literal["choice"] = "choice"
    question: str
    value: str


AlertRule = Annotated[WindowRule | ScoreRule | ChoiceRule, Field(discriminator="type")]


class AlertPolicy(_Config):
    case_questionnaire: str
    default_department: str = "office"
    rules: tuple[AlertRule, ...] = ()


class Labels(_Config):
    org_names: dict[str, str] = Field(default_factory=dict)
    departments: dict[str, str] = Field(default_factory=dict)
    channels: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class SurveyConfig:
    questionnaires: dict[str, Questionnaire]
    campaigns: dict[str, Campaign]
    policy: AlertPolicy
    labels: Labels

    @property
    def case_questionnaire(self) -> Questionnaire:
        return self.questionnaires[self.policy.case_questionnaire]


@dataclass
class Survey:
    """The one-time invitation to rate how one resolution of a case went."""

    survey_id: str
    token: str
    org_id: str
    case_id: str
    case_seq: int
    kind: str
    channel: str
    department: str | None
    category: str | None
    officer_id: str | None
    contact_ref: str | None
    resolved_at: datetime
    requested_at: datetime
    expires_at: datetime
    questionnaire_version: str
    link: str


@dataclass(frozen=True)
class Answer:
    question_id: str
    type: QuestionType
    value: AnswerScalar


@dataclass
class Response:
    """One accepted set of answers; stored once, never changed."""

    response_id: str
    org_id: str
    source: Literal["case", "campaign"]
    questionnaire_version: str
    channel: str
    responded_at: datetime
    recorded_at: datetime
    answers: tuple[Answer, ...]
    survey_id: str | None = None
    campaign_id: str | None = None
    case_id: str | None = None
    form_no: str | None = None
    department: str | None = None
    category: str | None = None
    entered_by: str | None = None

    @property
    def fiscal_year(self) -> int:
        return fiscal_year_be(self.responded_at)

    @property
    def month(self) -> str:
        return to_bangkok(self.responded_at).strftime("%Y-%m")

    @property
    def scored(self) -> tuple[Answer, ...]:
        """What the aggregates count: scale and choice answers (comments are read, not summed)."""
        return tuple(a for a in self.answers if a.type != "text")

    def answer(self, question_id: str) -> AnswerScalar | None:
        return next((a.value for a in self.answers if a.question_id == question_id), None)

    def slice_value(self, by: str) -> str:
        values = {
            "org": self.org_id,
            "department": self.department,
            "category": self.category,
            "channel": self.channel,
            "month": self.month,
            "source": self.source,
        }
        return values[by] or UNSPECIFIED


@dataclass(frozen=True)
class Slice:
    """One aggregate: an organisation's fiscal year, cut by one dimension value."""

    org_id: str
    fiscal_year: int
    by: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.org_id}|{self.fiscal_year}|{self.by}|{self.value}"


@dataclass(frozen=True)
class QuestionStats:
    question_id: str
    kind: Literal["scale", "choice"]
    count: int
    total: int  # sum of the scores (scale); 0 for a choice
    distribution: tuple[tuple[str, int], ...]  # (value, responses), sorted by value

    @property
    def satisfied(self) -> int:
        if self.kind != "scale":
            return 0
        return sum(n for v, n in self.distribution if int(v) >= SATISFIED_FROM)


@dataclass(frozen=True)
class Tally:
    """Integer totals; every ratio is computed from them on read."""

    count: int = 0
    total: int = 0
    satisfied: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.count + other.count, self.total + other.total, self.satisfied + other.satisfied
        )

    @property
    def mean(self) -> float | None:
        return round(self.total / self.count, 4) if self.count else None

    @property
    def percent_satisfied(self) -> float | None:
        return round(100 * self.satisfied / self.count, 2) if self.count else None


@dataclass(frozen=True)
class Bucket:
    slice: Slice
    responses: int
    questions: tuple[QuestionStats, ...]

    def tally(self, question_id: str | None = None) -> Tally:
        """One question's totals, or all scale questions together (the overall figure)."""
        result = Tally()
        for q in self.questions:
            if q.kind == "scale" and question_id in (None, q.question_id):
                result = result + Tally(q.count, q.total, q.satisfied)
        return result


@dataclass(frozen=True)
class Figures:
    """What a set of responses adds up to, in integers only: how many responses, and how
    often each (question, answer) was given. Sums, means and shares derive from these, so
    adding one response at a time stays exact."""

    responses: int = 0
    counts: Mapping[tuple[str, AnswerScalar], int] = field(default_factory=dict)

    def __add__(self, other: Figures) -> Figures:
        counts = dict(self.counts)
        for key, n in other.counts.items():
            counts[key] = counts.get(key, 0) + n
        return Figures(self.responses + other.responses, counts)


@dataclass(frozen=True)
class KeptBucket:
    """A slice's bucket as kept: its figures, and the responses added to it last.

    `applied` (newest last, at most APPLIED_KEPT) lets a redelivered response that a
    crash interrupted skip the buckets it already reached (docs/survey-aggregates.md).
    """

    slice: Slice
    figures: Figures
    applied: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonthKey:
    """One department's responses of one calendar month (Bangkok), for trailing windows."""

    org_id: str
    department: str
    month: str  # YYYY-MM

    @property
    def key(self) -> str:
        return f"{self.org_id}|{self.department}|{self.month}"


@dataclass(frozen=True)
class DepartmentMonth:
    """A department's figures per day of one month, so a window of days is a sum of a few
    documents read by id, never a query over the responses."""

    of: MonthKey
    days: Mapping[int, Figures] = field(default_factory=dict)  # day of the month -> figures
    applied: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertDecision:
    alert_id: str
    rule: str
    department: str
    description_th: str
    fiscal_year: int
    response_id: str | None = None
    case_id: str | None = None
    window_responses: int | None = None
    window_percent_satisfied: float | None = None


@dataclass
class Alert:
    """An alert and the improvement action it became."""

    decision: AlertDecision
    org_id: str
    raised_at: datetime
    action_case_id: str | None = None
    action_status: str = "requested"  # until routing reports the case's progress
    action_seq: int = 0
    action_updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ResponseSubmission(BaseModel):
    """A response as sent: from the web, or keyed in by staff from a call or a paper form.

    `answers` is checked against the questionnaire by the domain rules (not here), so
    each refusal names the question it is about.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: dict[str, Any]
    # When the citizen answered, if keyed in later (a paper form's date).
    responded_at: datetime | None = None
    entered_by: str | None = Field(default=None, max_length=64)  # the officer keying it in
    # Campaigns: a paper form's number, or a web client's id for safe retries.
    form_no: str | None = Field(default=None, min_length=1, max_length=64)
    submission_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
