"""Facts about satisfaction (measure 4): surveys asked, answered, and alerts they raise.

`survey.requested` is keyed by case id (channel adapters send it to the citizen);
`survey.responded` and `satisfaction.alert` by response id and alert id respectively.
A response carries everything the aggregates need (its period, department, category,
channel and scored answers), so a consumer can rebuild them from the topic alone.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.events.envelope import Contract, Envelope
from shared.topics import Topic


class SurveyRequestedPayload(Contract):
    survey_id: str
    case_id: str
    channel: str  # the case's channel: the adapter that should carry the invitation
    recipient_ref: str | None  # a reference into intake's contacts, never the contact
    token: str
    link: str
    expires_at: AwareDatetime
    department: str | None = None
    questionnaire_version: str


class SurveyRequested(Envelope[SurveyRequestedPayload]):
    topic: ClassVar[Topic] = Topic.SURVEY_REQUESTED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["SurveyRequested"] = "SurveyRequested"


class AnswerValue(Contract):
    question_id: str
    type: Literal["scale", "choice", "text"]
    # 1-5 for a scale question, an option for a choice, free text for a comment.
    value: int | str


class SurveyRespondedPayload(Contract):
    response_id: str
    source: Literal["case", "campaign"]
    survey_id: str | None = None
    campaign_id: str | None = None
    case_id: str | None = None
    form_no: str | None = None
    questionnaire_version: str
    department: str | None = None
    category: str | None = None
    channel: str
    responded_at: AwareDatetime  # decides the period (month, fiscal year) it counts in
    fiscal_year: int  # Buddhist Era, 1 Oct - 30 Sep
    month: str  # YYYY-MM (Common Era) in Bangkok time
    answers: tuple[AnswerValue, ...]


class SurveyResponded(Envelope[SurveyRespondedPayload]):
    topic: ClassVar[Topic] = Topic.SURVEY_RESPONDED
    keyed_by: ClassVar[str | None] = "response_id"
    type: Literal["SurveyResponded"] = "SurveyResponded"


class SatisfactionAlertPayload(Contract):
    alert_id: str
    rule: str  # the id of the configured rule that fired
    department: str
    description_th: str
    fiscal_year: int
    response_id: str | None = None
    case_id: str | None = None
    # For window rules: what the window held when it fired.
    window_responses: int | None = None
    window_percent_satisfied: float | None = None
    details: dict[str, str] = Field(default_factory=dict)


class SatisfactionAlertRaised(Envelope[SatisfactionAlertPayload]):
    topic: ClassVar[Topic] = Topic.SATISFACTION_ALERT
    keyed_by: ClassVar[str | None] = "alert_id"
    type: Literal["SatisfactionAlertRaised"] = "SatisfactionAlertRaised"


class PublicSatisfactionPayload(Contract):
    """One answer to a survey as the public may see it (measure 1): the period, the
    department and the scores, counts only. No comment, no case, no token, no channel:
    nothing that could point at who answered. `fact_id` is a digest of the response id."""

    fact_id: str
    source: Literal["case", "campaign"]
    fiscal_year: int  # Buddhist Era, 1 Oct - 30 Sep
    department: str | None = None
    # question id -> the score given, scale questions only (1-5)
    scores: dict[str, int] = Field(default_factory=dict)


class PublicSatisfactionCounted(Envelope[PublicSatisfactionPayload]):
    topic: ClassVar[Topic] = Topic.PUBLIC_SATISFACTION
    keyed_by: ClassVar[str | None] = "fact_id"
    type: Literal["PublicSatisfactionCounted"] = "PublicSatisfactionCounted"
