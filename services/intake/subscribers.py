"""Kafka subscriptions of intake: raw payloads from adapters that speak Kafka, routing's
facts for the Open311 read model, and the dead letters operators replay."""

from __future__ import annotations

from services.intake.domain.progress import CaseEvent
from services.intake.handlers import IntakeHandlers
from shared.events.cases import CaseAssigned, CaseClosed, CaseResolved, CaseStatusChanged
from shared.events.intake import RawPayloadReceived
from shared.kafka import subscribe
from shared.runtime import Runtime

# Routing's facts, one consumer group each; one handler applies them all to the read model.
FACTS: dict[type[CaseEvent], str] = {
    CaseAssigned: "case-assigned",
    CaseStatusChanged: "case-status-changed",
    CaseResolved: "case-resolved",
    CaseClosed: "case-closed",
}


def register(runtime: Runtime, handlers: IntakeHandlers) -> None:
    # Both handlers flush what a first handling saved when a message comes again. Raw
    # payloads are where reports enter: gathered, so that they travel on in convoys.
    subscribe(
        runtime,
        RawPayloadReceived,
        "intake-raw",
        handlers.raw,
        redelivery_recovers=True,
        gather=True,
    )
    for fact, purpose in FACTS.items():
        subscribe(runtime, fact, purpose, handlers.case_event, redelivery_recovers=True)
