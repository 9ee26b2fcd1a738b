"""Kafka subscriptions of compliance. Thin: decode (FastStream + pydantic), hand over.

One subscriber for every kind of project event: they share the key (project id), so
one partition sees a project's events in the order they were produced, and the
discriminated union turns an unknown `type` into a ValidationError, which the shared
middleware dead-letters with the reason.
"""

from __future__ import annotations

from services.compliance.handlers import ComplianceHandlers
from shared.events.compliance import ProjectEvent
from shared.kafka import subscriber_options, topic_name
from shared.runtime import Runtime
from shared.topics import Topic


def register(runtime: Runtime, handlers: ComplianceHandlers) -> None:
    settings = runtime.settings

    # FastStream's decorator is untyped; the handler it wraps is fully typed.
    @runtime.router.subscriber(  # type: ignore[untyped-decorator, unused-ignore]
        topic_name(settings, Topic.PROJECT_EVENTS), **subscriber_options(settings, "project-events")
    )
    async def project_event(event: ProjectEvent) -> None:
        await handlers.on_project_event(event)
