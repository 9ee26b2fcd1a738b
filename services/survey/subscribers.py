"""Kafka subscriptions of the survey service. Thin: decode (FastStream + pydantic), hand over."""

from __future__ import annotations

from services.survey.handlers import SurveyHandlers
from shared.events.cases import (
    CaseAssigned,
    CaseClosed,
    CaseReceived,
    CaseResolved,
    CaseStatusChanged,
)
from shared.events.survey import SurveyResponded
from shared.kafka import subscribe
from shared.runtime import Runtime


def register(runtime: Runtime, handlers: SurveyHandlers) -> None:
    subscribe(runtime, CaseResolved, "case-resolved", handlers.on_case_resolved)
    subscribe(runtime, SurveyResponded, "survey-responded", handlers.on_survey_responded)
    # Improvement actions: which case each alert became, and how far it got.
    subscribe(runtime, CaseReceived, "case-received", handlers.on_case_received)
    subscribe(runtime, CaseAssigned, "case-assigned", handlers.on_case_assigned)
    subscribe(runtime, CaseStatusChanged, "case-status-changed", handlers.on_case_status_changed)
    subscribe(runtime, CaseClosed, "case-closed", handlers.on_case_closed)
