"""Kafka subscriptions of routing. Thin: decode (FastStream + pydantic), hand over."""

from __future__ import annotations

from services.routing.handlers import RoutingHandlers
from shared.events.cases import CaseAmended, CaseCommandIssued, CaseReceived
from shared.kafka import subscriber_options, topic_name
from shared.runtime import Runtime
from shared.topics import Topic


def register(runtime: Runtime, handlers: RoutingHandlers) -> None:
    settings = runtime.settings

    @runtime.router.subscriber(
        topic_name(settings, Topic.CASE_RECEIVED), **subscriber_options(settings, "case-received")
    )
    async def case_received(event: CaseReceived) -> None:
        await handlers.on_case_received(event)

    @runtime.router.subscriber(
        topic_name(settings, Topic.CASE_COMMANDS), **subscriber_options(settings, "case-commands")
    )
    async def case_command(event: CaseCommandIssued) -> None:
        # Refusals (unknown case, invalid transition, bad parameter) are PermanentErrors:
        # the shared middleware dead-letters them with the reason.
        await handlers.on_command(event)

    @runtime.router.subscriber(
        topic_name(settings, Topic.CASE_AMENDED), **subscriber_options(settings, "case-amended")
    )
    async def case_amended(event: CaseAmended) -> None:
        await handlers.on_case_amended(event)
