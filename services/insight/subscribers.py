"""Kafka subscriptions of insight. Thin: decode (FastStream + pydantic), hand over.

Every case topic and survey's answers go to one use case, `on_event`: the case's facts
are one aggregate, whatever topic told of them. The purposes name the consumer groups
(where Kafka keeps the offsets), so they are never renamed.
"""

from __future__ import annotations

from services.insight.handlers import InsightHandlers
from shared.events.cases import (
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseReceived,
    CaseResolved,
    CaseStatusChanged,
)
from shared.events.survey import SatisfactionAlertRaised, SurveyResponded
from shared.kafka import subscribe
from shared.runtime import Runtime


def register(runtime: Runtime, handlers: InsightHandlers) -> None:
    subscribe(runtime, CaseReceived, "insight-case-received", handlers.on_event)
    subscribe(runtime, CaseAssigned, "insight-case-assigned", handlers.on_event)
    subscribe(runtime, CaseStatusChanged, "insight-case-status-changed", handlers.on_event)
    subscribe(runtime, CaseResolved, "insight-case-resolved", handlers.on_event)
    subscribe(runtime, CaseClosed, "insight-case-closed", handlers.on_event)
    subscribe(runtime, CaseEscalated, "insight-case-escalated", handlers.on_event)
    subscribe(runtime, SurveyResponded, "insight-survey-responded", handlers.on_event)
    subscribe(
        runtime,
        SatisfactionAlertRaised,
        "insight-satisfaction-alert",
        handlers.on_satisfaction_alert,
    )
