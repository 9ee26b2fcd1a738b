"""The audit trail: one append-only record for every privileged act (issue "who may do what").

An act that changes an aggregate (an officer's action, a waiver) puts its record in the same
outbox as its other events, so the record is as durable as the act and never doubled
(`audit_event` builds it; the record id is the act's own id). An act that changes nothing
stored (a read of personal data, a dead letter's body) is recorded before anything is shown:
`AuditTrail.record` publishes first and refuses the request with 503 if it cannot, so no read
goes unrecorded. Compliance keeps the records and serves `GET /v1/audit`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime

from starlette.requests import Request

from shared.auth import Principal
from shared.clock import Clock
from shared.events.audit import AuditPayload, AuditRecorded
from shared.events.envelope import new_event_id
from shared.http import ApiError, app_state
from shared.outbox import Emission, RawPublisher

log = logging.getLogger("ruam.audit")


def source_of(request: Request | None) -> str | None:
    """Where the request came from, as the server saw it."""
    client = request.client if request is not None else None
    return client.host if client is not None else None


def audit_event(
    who: Principal,
    *,
    service: str,
    action: str,
    target: str,
    at: datetime,
    source: str | None = None,
    before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
    detail: str | None = None,
    record_id: str | None = None,
) -> AuditRecorded:
    """The record of one act. `record_id` is the act's own id where it has one (a command
    id), so the same act delivered twice is one record; a fresh id otherwise."""
    rid = record_id or uuid.uuid4().hex
    return AuditRecorded(
        event_id=new_event_id("audit", rid),
        org_id=who.org_id,
        correlation_id=rid,
        occurred_at=at,
        payload=AuditPayload(
            record_id=rid,
            at=at,
            service=service,
            action=action,
            target=target,
            subject=who.subject,
            officer_id=who.officer_id,
            roles=tuple(sorted(r.value for r in who.roles)),
            source=source,
            before=_texts(before),
            after=_texts(after),
            detail=detail[:2000] if detail else None,
        ),
    )


def _texts(values: Mapping[str, object] | None) -> dict[str, str]:
    return {k: "" if v is None else str(v)[:500] for k, v in (values or {}).items()}


def audit_trail(request: Request) -> AuditTrail:
    """The service's trail, as `shared.service.assemble` put it on the API's state."""
    return app_state(request, "audit", AuditTrail)


class AuditTrail:
    """Records acts that leave no aggregate change behind (reads), before they happen."""

    def __init__(self, publisher: RawPublisher, service: str, clock: Clock) -> None:
        self.publisher = publisher
        self.service = service
        self.clock = clock

    async def record(
        self,
        who: Principal,
        request: Request | None,
        action: str,
        target: str,
        *,
        detail: str | None = None,
    ) -> None:
        event = audit_event(
            who,
            service=self.service,
            action=action,
            target=target,
            at=self.clock.now(),
            source=source_of(request),
            detail=detail,
        )
        emission = Emission.of(event)
        try:
            await self.publisher.publish_all([(emission.topic, emission.key, event.to_bytes())])
        except Exception as exc:
            log.warning("audit record of %s on %s not written: %s", action, target, exc)
            raise ApiError(
                503, "audit_unavailable", "the audit trail cannot be written now; try again"
            ) from exc
