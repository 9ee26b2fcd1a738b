"""Kafka subscriptions of intake: raw payloads from adapters that speak Kafka."""

from __future__ import annotations

import json

from services.intake.domain.errors import UnknownChannel
from services.intake.domain.model import Submission
from services.intake.handlers import IntakeHandlers
from shared.events.intake import RawPayloadReceived
from shared.kafka import subscriber_options, topic_name
from shared.runtime import Runtime
from shared.topics import Topic


def submission_from_raw(event: RawPayloadReceived) -> Submission:
    """Normalize a raw payload exactly as the HTTP path would."""
    p = event.payload
    if p.content_type.split(";")[0].strip() != "application/json":
        raise UnknownChannel(f"no parser for channel {p.channel!r} with {p.content_type!r}")
    data = json.loads(p.body)
    if not isinstance(data, dict):
        raise UnknownChannel("raw JSON body must be an object")
    data.setdefault("channel", p.channel)
    data.setdefault("received_at", p.received_at.isoformat())
    if p.channel_message_id:
        data.setdefault("channel_message_id", p.channel_message_id)
    return Submission.model_validate(data)


def register(runtime: Runtime, handlers: IntakeHandlers) -> None:
    settings = runtime.settings

    @runtime.router.subscriber(
        topic_name(settings, Topic.INTAKE_RAW), **subscriber_options(settings, "intake-raw")
    )
    async def raw_received(event: RawPayloadReceived) -> None:
        await handlers.submit(submission_from_raw(event), correlation_id=str(event.event_id))
