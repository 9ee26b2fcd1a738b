"""Kafka subscriptions of the portal: the public projections, nothing else."""

from __future__ import annotations

from services.portal.handlers import PortalHandlers
from shared.events.cases import PublicCaseUpdated
from shared.events.compliance import PublicProjectUpdated
from shared.events.survey import PublicSatisfactionCounted
from shared.kafka import subscribe
from shared.runtime import Runtime


def register(runtime: Runtime, handlers: PortalHandlers) -> None:
    subscribe(runtime, PublicCaseUpdated, "public-cases", handlers.on_public_case)
    subscribe(runtime, PublicProjectUpdated, "public-projects", handlers.on_public_project)
    subscribe(
        runtime, PublicSatisfactionCounted, "public-satisfaction", handlers.on_public_satisfaction
    )
