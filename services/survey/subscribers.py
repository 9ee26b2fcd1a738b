"""Kafka subscriptions of the survey service. Thin: decode (FastStream + pydantic), hand over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.survey.handlers import SurveyHandlers
from shared.events.cases import (
    CaseAssigned,
    CaseClosed,
    CaseReceived,
    CaseResolved,
    CaseStatusChanged,
)
from shared.events.survey import SurveyResponded
from shared.kafka import subscriber_options, topic_name
from shared.runtime import Runtime
from shared.topics import Topic

Handler = Callable[[Any], Awaitable[None]]


def _subscriber(runtime: Runtime, topic: Topic, purpose: str) -> Callable[[Handler], object]:
    # FastStream's decorator is untyped; pinning its type here keeps the handlers typed.
    decorator: Callable[[Handler], object] = runtime.router.subscriber(
        topic_name(runtime.settings, topic), **subscriber_options(runtime.settings, purpose)
    )
    return decorator


def register(runtime: Runtime, handlers: SurveyHandlers) -> None:
    @_subscriber(runtime, Topic.CASE_RESOLVED, "case-resolved")
    async def case_resolved(event: CaseResolved) -> None:
        await handlers.on_case_resolved(event)

    @_subscriber(runtime, Topic.SURVEY_RESPONDED, "survey-responded")
    async def survey_responded(event: SurveyResponded) -> None:
        await handlers.on_survey_responded(event)

    # Improvement actions: which case each alert became, and how far it got.
    @_subscriber(runtime, Topic.CASE_RECEIVED, "case-received")
    async def case_received(event: CaseReceived) -> None:
        await handlers.on_case_received(event)

    @_subscriber(runtime, Topic.CASE_ASSIGNED, "case-assigned")
    async def case_assigned(event: CaseAssigned) -> None:
        await handlers.on_case_assigned(event)

    @_subscriber(runtime, Topic.CASE_STATUS_CHANGED, "case-status-changed")
    async def case_status_changed(event: CaseStatusChanged) -> None:
        await handlers.on_case_status_changed(event)

    @_subscriber(runtime, Topic.CASE_CLOSED, "case-closed")
    async def case_closed(event: CaseClosed) -> None:
        await handlers.on_case_closed(event)
