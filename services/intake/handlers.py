"""Use cases of intake: accept a submission as exactly one case, whatever path it came by."""

from __future__ import annotations

import uuid
from typing import Any

from services.intake.domain import rules
from services.intake.domain.model import Accepted, Submission
from services.intake.metrics import IntakeMetrics
from services.intake.ports import Clock, ContactVault, SubmissionRepository
from shared.events.cases import CaseReceived, CaseReceivedPayload, Kind
from shared.events.envelope import new_event_id
from shared.events.intake import NotificationRequested, NotificationRequestedPayload
from shared.outbox import Emission
from shared.topics import Topic

_CONTACT_NS = uuid.UUID("0f5b8d57-6a0e-4b8e-9c43-3f3a4f0f5d21")
MAX_SEQUENCE_ATTEMPTS = 5


class IntakeHandlers:
    def __init__(
        self,
        submissions: SubmissionRepository,
        contacts: ContactVault,
        clock: Clock,
        metrics: IntakeMetrics,
        *,
        org_id: str,
        case_prefix: str,
    ) -> None:
        self.submissions = submissions
        self.contacts = contacts
        self.clock = clock
        self.metrics = metrics
        self.org_id = org_id
        self.case_prefix = case_prefix

    async def submit(self, sub: Submission, *, correlation_id: str | None = None) -> Accepted:
        now = self.clock.now()
        rules.check_allowed(sub, now)
        key = sub.dedup_key() or f"{sub.channel.value}:auto-{uuid.uuid4()}"
        seen = await self.submissions.get(key)
        if seen is not None:
            self.metrics.duplicates.labels(sub.channel.value).inc()
            await self.submissions.flush(key)  # in case a crash left its events unpublished
            return Accepted(seen["case_id"], seen["received_at"], created=False)

        at = rules.received_at(sub, now)
        contact_ref = await self._keep_contact(sub, key)
        for _ in range(MAX_SEQUENCE_ATTEMPTS):
            seq = await self.submissions.next_sequence(rules.counter_key(self.org_id, at))
            case_id = rules.case_id(self.case_prefix, at, seq)
            record, emissions = self._record(sub, key, case_id, at, now, contact_ref, correlation_id)
            if await self.submissions.add(record, emissions):
                self.metrics.accepted.labels(sub.channel.value, sub.kind.value).inc()
                await self.submissions.flush(key)
                return Accepted(case_id, at, created=True)
            seen = await self.submissions.get(key)
            if seen is not None:  # the same message, concurrently: theirs stands
                self.metrics.duplicates.labels(sub.channel.value).inc()
                return Accepted(seen["case_id"], seen["received_at"], created=False)
            # else the case number was taken (a counter race): draw the next one
        raise RuntimeError(f"could not allocate a case number for {key}")

    async def _keep_contact(self, sub: Submission, key: str) -> str | None:
        if sub.contact is None or sub.contact.is_empty():
            return None
        wants = sub.wants_contact
        if sub.kind is Kind.CORRUPTION_REPORT and not wants:
            return None  # anonymous unless the person explicitly asks to be contacted
        ref = "ct_" + uuid.uuid5(_CONTACT_NS, key).hex
        await self.contacts.put(ref, sub.contact.model_dump(exclude_none=True))
        return ref

    def _record(
        self,
        sub: Submission,
        key: str,
        case_id: str,
        at: Any,
        now: Any,
        contact_ref: str | None,
        correlation_id: str | None,
    ) -> tuple[dict[str, Any], list[Emission]]:
        received = CaseReceived(
            event_id=new_event_id(key, "received"),
            org_id=self.org_id,
            correlation_id=correlation_id or case_id,
            payload=CaseReceivedPayload(
                case_id=case_id,
                channel=sub.channel,
                kind=sub.kind,
                text=rules.normalized(sub),
                original_text=sub.text,
                received_at=at,
                channel_message_id=sub.channel_message_id,
                location=sub.location,
                contact_ref=contact_ref,
                attachments=sub.attachments,
                service_code=sub.service_code,
                department_hint=sub.department_hint,
                links=sub.links,
                wants_contact=bool(contact_ref),
            ),
        )
        acknowledgement = NotificationRequested(
            event_id=new_event_id(key, "ack"),
            org_id=self.org_id,
            correlation_id=received.correlation_id,
            payload=NotificationRequestedPayload(
                case_id=case_id,
                channel=sub.channel.value,
                recipient_ref=contact_ref,
                template="received",
                params={"case_id": case_id},
            ),
        )
        record = {
            "_id": key,
            "case_id": case_id,
            "channel": sub.channel.value,
            "kind": sub.kind.value,
            "channel_message_id": sub.channel_message_id,
            "received_at": at,
            "stored_at": now,
            "contact_ref": contact_ref,
        }
        return record, [
            Emission(Topic.CASE_RECEIVED, case_id, received),
            Emission(Topic.NOTIFICATION_REQUESTED, case_id, acknowledgement),
        ]
