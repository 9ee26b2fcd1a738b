"""Kafka subscriptions of intake: raw payloads from adapters that speak Kafka, routing's
facts for the Open311 read model, and the dead letters operators replay."""

from __future__ import annotations

from services.intake.handlers import IntakeHandlers
from shared.events.cases import CaseAssigned, CaseClosed, CaseResolved, CaseStatusChanged
from shared.events.intake import RawPayloadReceived
from shared.kafka import subscriber_options, topic_name
from shared.runtime import Runtime
from shared.topics import Topic


def register(runtime: Runtime, handlers: IntakeHandlers) -> None:
    settings = runtime.settings
    router = runtime.router

    @router.subscriber(
        topic_name(settings, Topic.INTAKE_RAW), **subscriber_options(settings, "intake-raw")
    )
    async def raw_received(event: RawPayloadReceived) -> None:
        await handlers.raw(event)

    @router.subscriber(
        topic_name(settings, Topic.CASE_ASSIGNED), **subscriber_options(settings, "case-assigned")
    )
    async def case_assigned(event: CaseAssigned) -> None:
        await handlers.case_event(event)

    @router.subscriber(
        topic_name(settings, Topic.CASE_STATUS_CHANGED),
        **subscriber_options(settings, "case-status-changed"),
    )
    async def case_status_changed(event: CaseStatusChanged) -> None:
        await handlers.case_event(event)

    @router.subscriber(
        topic_name(settings, Topic.CASE_RESOLVED), **subscriber_options(settings, "case-resolved")
    )
    async def case_resolved(event: CaseResolved) -> None:
        await handlers.case_event(event)

    @router.subscriber(
        topic_name(settings, Topic.CASE_CLOSED), **subscriber_options(settings, "case-closed")
    )
    async def case_closed(event: CaseClosed) -> None:
        await handlers.case_event(event)
