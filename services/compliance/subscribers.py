"""Kafka subscriptions of compliance. Thin: decode (FastStream + pydantic), hand over.

One subscriber for every kind of project event: they share the key (project id), so
one partition sees a project's events in the order they were produced, and the
discriminated union turns an unknown `type` into a ValidationError, which the shared
middleware dead-letters with the reason.
"""

from __future__ import annotations

from services.compliance.handlers import ComplianceHandlers
from shared.events.audit import AuditRecorded
from shared.events.compliance import ProjectEvent
from shared.kafka import subscribe
from shared.runtime import Runtime


def register(runtime: Runtime, handlers: ComplianceHandlers) -> None:
    subscribe(runtime, ProjectEvent, "project-events", handlers.on_project_event)
    # Every service's audit records (shared/audit.py) are kept here, for GET /v1/audit.
    subscribe(runtime, AuditRecorded, "audit-trail", handlers.on_audit_recorded)
