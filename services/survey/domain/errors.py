from __future__ import annotations

from typing import Any

from shared.errors import PermanentError


class SurveyError(PermanentError):
    """Base of the survey service's refusals; permanent, so Kafka dead-letters them."""


class SurveyNotFound(SurveyError):
    """No survey with this token (HTTP 404)."""


class SurveyExpired(SurveyError):
    """The token's time is up (HTTP 410)."""


class AlreadyAnswered(SurveyError):
    """One response per token or paper form (HTTP 409)."""


class CampaignNotFound(SurveyError):
    pass


class CampaignClosed(SurveyError):
    """A response outside the campaign's dates (HTTP 409 from the web, 422 for a form date)."""


class UnknownQuestionnaire(SurveyError):
    pass


class UnreadableCsv(PermanentError):
    """A paper-form CSV the csv module cannot read (HTTP 400): refused as a whole. Not a
    SurveyError: a malformed body is not a refused response."""


class InvalidAnswers(SurveyError):
    """Answers that do not fit the questionnaire; `details` name each field (HTTP 422)."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        self.details = details
        super().__init__("; ".join(f"{d['field']}: {d['message']}" for d in details))
