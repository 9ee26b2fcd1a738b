"""Kafka subscriptions of routing. Thin: decode (FastStream + pydantic), hand over."""

from __future__ import annotations

from services.routing.handlers import RoutingHandlers
from shared.events.cases import CaseAmended, CaseCommandIssued, CaseReceived
from shared.kafka import subscribe
from shared.runtime import Runtime


def register(runtime: Runtime, handlers: RoutingHandlers) -> None:
    # A case received again (its case already stored) is flushed: no outbox marker needed.
    subscribe(
        runtime,
        CaseReceived,
        "case-received",
        handlers.on_case_received,
        redelivery_recovers=True,
    )
    # Refusals (unknown case, invalid transition, bad parameter) are PermanentErrors:
    # the shared middleware dead-letters them with the reason.
    subscribe(runtime, CaseCommandIssued, "case-commands", handlers.on_command)
    subscribe(runtime, CaseAmended, "case-amended", handlers.on_case_amended)
