"""Use cases of intake: accept a submission as exactly one case, whatever path it came by."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from services.intake.domain import line, rules
from services.intake.domain.channels import BoxSession, Letter, Meeting, PhoneCall, parse_box_csv
from services.intake.domain.email_channel import parse_email
from services.intake.domain.errors import IntakeError, UnknownChannel
from services.intake.domain.model import Accepted, Submission
from services.intake.domain.normalize import locate
from services.intake.domain.open311 import parse_request
from services.intake.domain.progress import CaseEvent, Progress, apply, default_due, public_payload
from services.intake.domain.redact import redact
from services.intake.metrics import IntakeMetrics
from services.intake.ports import (
    ContactVault,
    RecordBook,
    SubmissionRepository,
    Threads,
)
from shared.clock import Clock
from shared.errors import ConcurrencyError
from shared.events.cases import (
    CaseAmended,
    CaseAmendedPayload,
    CaseReceived,
    CaseReceivedPayload,
    Channel,
    Kind,
    PublicCaseUpdated,
)
from shared.events.envelope import new_event_id
from shared.events.intake import (
    NotificationRequested,
    NotificationRequestedPayload,
    RawPayloadReceived,
)
from shared.outbox import Emission, RawPublisher
from shared.store import retry_on_conflict
from shared.thai import format_thai_date, to_bangkok

_CONTACT_NS = uuid.UUID("0f5b8d57-6a0e-4b8e-9c43-3f3a4f0f5d21")
MAX_SEQUENCE_ATTEMPTS = 5
BATCH_CONCURRENCY = 8


@dataclass(frozen=True)
class Outcome:
    """What became of one item of a batch (a slip, an opinion, a LINE event)."""

    item_id: str
    case_id: str | None = None
    duplicate: bool = False
    added_to_case: bool = False
    refused: str | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.item_id}
        if self.refused is not None:
            out["refused"] = self.refused
        else:
            out.update(case_id=self.case_id, duplicate=self.duplicate)
            if self.added_to_case:
                out["added_to_case"] = True
        return out


def contact_ref(contact_key: str) -> str:
    return "ct_" + uuid.uuid5(_CONTACT_NS, contact_key).hex


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
        records: RecordBook | None = None,
        threads: Threads | None = None,
        publisher: RawPublisher | None = None,
        api_keys: frozenset[str] = frozenset(),
        line_secret: str = "",
        line_window: timedelta = timedelta(minutes=10),
        agencies: Mapping[str, str] | None = None,
    ) -> None:
        self.submissions = submissions
        self.contacts = contacts
        self.clock = clock
        self.metrics = metrics
        self.org_id = org_id
        self.case_prefix = case_prefix
        self.records = records
        self.threads = threads
        self.publisher = publisher
        self.api_keys = api_keys
        self.line_secret = line_secret
        self.line_window = line_window
        self.agencies: Mapping[str, str] = agencies or {}
        # One user's messages are decided one at a time (this process is the only
        # LINE consumer); across users, everything runs concurrently.
        self._thread_locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------ the canonical path

    async def submit(
        self,
        sub: Submission,
        *,
        correlation_id: str | None = None,
        contact_key: str | None = None,
    ) -> Accepted:
        now = self.clock.now()
        rules.check_allowed(sub, now)
        key = sub.dedup_key() or f"{sub.channel.value}:auto-{uuid.uuid4()}"
        seen = await self.submissions.get(key)
        if seen is not None:
            self.metrics.duplicates.labels(sub.channel.value).inc()
            await self.submissions.flush(seen["_id"])  # in case a crash left events unpublished
            return Accepted(seen["case_id"], seen["received_at"], created=False)

        at = rules.received_at(sub, now)
        ref = await self._keep_contact(sub, contact_key or key)
        for _ in range(MAX_SEQUENCE_ATTEMPTS):
            seq = await self.submissions.next_sequence(rules.counter_key(self.org_id, at))
            case_id = rules.case_id(self.case_prefix, at, seq)
            record, emissions = self._record(sub, key, case_id, at, now, ref, correlation_id)
            # Concurrent writers of the case (routing's answers arriving before this
            # flush) are ordered by the shared outbox's version claims.
            added = await self.submissions.add(record, emissions)
            if added:
                await self.submissions.flush(key)
                self.metrics.accepted.labels(sub.channel.value, sub.kind.value).inc()
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
        if sub.kind is Kind.CORRUPTION_REPORT and not sub.wants_contact:
            return None  # anonymous unless the person explicitly asks to be contacted
        if sub.wants_contact is False:
            return None
        ref = contact_ref(key)
        await self.contacts.put(ref, sub.contact.model_dump(exclude_none=True))
        return ref

    def _record(
        self,
        sub: Submission,
        key: str,
        case_id: str,
        at: datetime,
        now: datetime,
        ref: str | None,
        correlation_id: str | None,
    ) -> tuple[dict[str, Any], list[Emission]]:
        location = locate(sub.location, sub.text)
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
                location=location,
                contact_ref=ref,
                attachments=sub.attachments,
                service_code=sub.service_code,
                department_hint=sub.department_hint,
                links=sub.links,
                wants_contact=bool(ref),
            ),
        )
        due = default_due(at)
        acknowledgement = NotificationRequested(
            event_id=new_event_id(key, "ack"),
            org_id=self.org_id,
            correlation_id=received.correlation_id,
            payload=NotificationRequestedPayload(
                case_id=case_id,
                channel=sub.channel.value,
                recipient_ref=ref,
                template="received",
                params={
                    "case_id": case_id,
                    "respond_due_at": due.isoformat(),
                    "respond_due_th": format_thai_date(due),
                },
            ),
        )
        record: dict[str, Any] = {
            "_id": key,
            "case_id": case_id,
            "channel": sub.channel.value,
            "kind": sub.kind.value,
            "channel_message_id": sub.channel_message_id,
            "received_at": at,
            "month": f"{to_bangkok(at):%Y-%m}",
            "stored_at": now,
            "contact_ref": ref,
            "service_code": sub.service_code,
            "links": [{"name": k, "value": v} for k, v in sub.links.items()],
            "attachments": [a.model_dump() for a in sub.attachments],
            # The redacted projection: all that Open311 and public.cases ever show.
            "public": {
                "text": public_text_of(sub.kind.value, rules.normalized(sub)),
                "address": redact(location.address) if location and location.address else None,
                "lat": location.lat if location else None,
                "lon": location.lon if location else None,
                "village_no": location.village_no if location else None,
                "media_url": next((a.ref for a in sub.attachments if a.kind == "link"), None),
            },
            "additions": [],
            "progress": Progress().to_doc(),
        }
        _index_fields(record)
        public = PublicCaseUpdated(
            event_id=new_event_id(key, "public"),
            org_id=self.org_id,
            correlation_id=received.correlation_id,
            payload=public_payload(record, Progress()),
        )
        return record, [
            Emission.of(received),
            Emission.of(acknowledgement),
            Emission.of(public),
        ]

    # ------------------------------------------------------------ batches

    async def submit_each(
        self, items: list[tuple[str, Submission | None, str | None]]
    ) -> list[Outcome]:
        """Each item on its own (one bad slip does not stop the batch), a few at a time."""
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(item_id: str, sub: Submission | None, refused: str | None) -> Outcome:
            if sub is None:
                self.metrics.refused.labels("batch", "invalid_item").inc()
                return Outcome(item_id, refused=refused or "refused")
            async with gate:
                try:
                    accepted = await self.submit(sub)
                except IntakeError as exc:
                    self.metrics.refused.labels(sub.channel.value, "refused").inc()
                    return Outcome(item_id, refused=str(exc))
            return Outcome(item_id, accepted.case_id, duplicate=not accepted.created)

        return list(await asyncio.gather(*(one(*item) for item in items)))

    async def suggestion_box(self, session: BoxSession, csv_text: str) -> list[Outcome]:
        slips = parse_box_csv(session, csv_text)
        outcomes = await self.submit_each([(s.slip_id, s.submission, s.refused) for s in slips])
        await self._keep_record(
            "box_sessions",
            session.session_id,
            {
                "box_id": session.box_id,
                "location": session.location,
                "opened_at": session.opened_at,
                "committee": list(session.committee),
                "slips": [o.view() for o in outcomes],
                "accepted": sum(o.refused is None for o in outcomes),
                "refused": sum(o.refused is not None for o in outcomes),
            },
        )
        return outcomes

    async def meeting(self, meeting: Meeting) -> list[Outcome]:
        subs = meeting.to_submissions()
        outcomes = await self.submit_each([(s.channel_message_id or "", s, None) for s in subs])
        await self._keep_record(
            "activities",
            meeting.activity_id,
            {**meeting.record(), "cases": [o.case_id for o in outcomes if o.case_id]},
        )
        return outcomes

    async def _keep_record(self, kind: str, record_id: str, doc: dict[str, Any]) -> None:
        if self.records is not None:
            await self.records.keep(kind, record_id, {**doc, "recorded_at": self.clock.now()})

    # ------------------------------------------------------------ LINE

    async def line_webhook(self, body: bytes, signature_header: str | None) -> list[Outcome]:
        """Verify, then take every message event; the caller answers LINE 200 regardless."""
        try:
            line.verify_signature(self.line_secret, body, signature_header)
        except IntakeError:
            self.metrics.signature_refusals.labels("line").inc()
            raise
        outcomes = []
        for item in line.parse_webhook(body):
            if isinstance(item, line.Skipped):
                self.metrics.refused.labels("line", "skipped_event").inc()
                outcomes.append(Outcome(item.event_id, refused=item.reason))
            else:
                outcomes.append(await self._line_message(item))
        return outcomes

    async def _line_message(self, msg: line.Incoming) -> Outcome:
        seen = await self.submissions.get(msg.message_key)
        if seen is not None:
            self.metrics.duplicates.labels("line").inc()
            await self.submissions.flush(seen["_id"])
            return Outcome(msg.event_id, seen["case_id"], duplicate=True)
        thread_key = contact_ref("line-user:" + msg.user_id)
        lock = self._thread_locks.setdefault(thread_key, asyncio.Lock())
        async with lock:
            thread = await self.threads.get(thread_key) if self.threads else None
            last_at = thread["last_at"] if thread else None
            if thread is not None and line.continues_thread(last_at, msg.at, self.line_window):
                case_id = await self._add_to_case(thread["dedup_key"], msg)
                if case_id is not None:
                    await self._touch_thread(
                        thread_key, thread["dedup_key"], case_id, msg.at, last_at
                    )
                    return Outcome(msg.event_id, case_id, added_to_case=True)
            try:
                accepted = await self.submit(
                    msg.to_submission(), contact_key="line-user:" + msg.user_id
                )
            except IntakeError as exc:
                self.metrics.refused.labels("line", "refused").inc()
                return Outcome(msg.event_id, refused=str(exc))
            if accepted.created or thread is None:
                await self._touch_thread(
                    thread_key, msg.message_key, accepted.case_id, msg.at, None
                )
            return Outcome(msg.event_id, accepted.case_id, duplicate=not accepted.created)

    async def _touch_thread(
        self, key: str, dedup_key: str, case_id: str, at: datetime, last_at: datetime | None
    ) -> None:
        if self.threads is not None:
            latest = at if last_at is None or at > last_at else last_at
            await self.threads.put(
                key, {"dedup_key": dedup_key, "case_id": case_id, "last_at": latest}
            )

    async def _add_to_case(self, dedup_key: str, msg: line.Incoming) -> str | None:
        """Append a follow-up message to the case its conversation opened; None if gone."""

        async def attempt() -> str | None:
            doc = await self.submissions.get(dedup_key)
            if doc is None:
                return None
            additions = list(doc.get("additions") or [])
            if any(a["key"] == msg.message_key for a in additions):
                await self.submissions.alias(msg.message_key, dedup_key)
                return str(doc["case_id"])
            text = msg.addition_text()
            public = dict(doc.get("public") or {})
            if text:
                public["text"] = "\n".join(
                    t for t in (public.get("text"), public_text_of(doc["kind"], text)) if t
                )
            place = locate(msg.location)
            if place is not None and public.get("lat") is None:
                public.update(
                    lat=place.lat,
                    lon=place.lon,
                    address=redact(place.address) if place.address else None,
                    village_no=public.get("village_no") or place.village_no,
                )
            additions.append(
                {
                    "key": msg.message_key,
                    "at": msg.at,
                    "type": msg.kind,
                    # The citizen's own words stay with intake; only the redacted form is public.
                    "original_text": msg.text,
                    "attachment": msg.attachment.model_dump() if msg.attachment else None,
                    "lat": msg.location.lat if msg.location else None,
                    "lon": msg.location.lon if msg.location else None,
                }
            )
            attachments = list(doc.get("attachments") or [])
            if msg.attachment is not None:
                attachments.append(msg.attachment.model_dump())
            doc.update(public=public, additions=additions, attachments=attachments)
            progress = Progress.from_doc(doc.get("progress"))
            progress = Progress(
                **{**progress.to_doc(), "updated_at": _later(progress.updated_at, msg.at)}
            )
            doc["progress"] = progress.to_doc()
            _index_fields(doc)
            event = PublicCaseUpdated(
                event_id=new_event_id(msg.message_key, "public"),
                org_id=self.org_id,
                correlation_id=doc["case_id"],
                payload=public_payload(doc, progress),
            )
            amended = CaseAmended(
                event_id=new_event_id(msg.message_key, "amended"),
                org_id=self.org_id,
                correlation_id=doc["case_id"],
                payload=CaseAmendedPayload(
                    case_id=doc["case_id"],
                    amendment_id=msg.message_key,
                    channel=Channel.LINE,
                    at=msg.at,
                    kind=msg.kind,
                    text=text,
                    attachments=(msg.attachment,) if msg.attachment else (),
                    location=place,
                ),
            )
            emissions = [
                Emission.of(event),
                # Routing puts it on the case's timeline and tells the officer.
                Emission.of(amended),
            ]
            if not await self.submissions.update(doc, doc["version"], emissions):
                raise ConcurrencyError(f"case of {dedup_key} changed meanwhile")
            await self.submissions.alias(msg.message_key, dedup_key)
            await self.submissions.flush(dedup_key)
            self.metrics.additions.labels("line").inc()
            return str(doc["case_id"])

        return await retry_on_conflict(attempt)

    # ------------------------------------------------------------ Kafka: raw payloads

    async def raw(self, event: RawPayloadReceived) -> list[Outcome]:
        """Normalize a raw payload exactly as the HTTP path of its channel would."""
        p = event.payload
        ctype = p.content_type.split(";")[0].strip().lower()
        headers = {k.lower(): v for k, v in p.headers.items()}
        body = (
            base64.b64decode(p.body, validate=True)
            if headers.get("content-transfer-encoding", "").lower() == "base64"
            else p.body.encode("utf-8")
        )
        cid = str(event.event_id)
        if p.channel == "line":
            return await self.line_webhook(body, headers.get("x-line-signature"))
        if p.channel == "email" or ctype == "message/rfc822":
            sub = parse_email(body)
            return [await self._one(sub.channel_message_id or "", sub, cid)]
        if p.channel == "suggestion_box" or ctype == "text/csv":
            session = BoxSession.model_validate(
                {k: headers.get(k) for k in ("box_id", "location", "opened_at", "committee")}
            )
            return await self.suggestion_box(session, body.decode("utf-8"))
        if p.channel == "open311":
            if ctype != "application/x-www-form-urlencoded":
                raise UnknownChannel(f"open311 raw payloads are form-encoded, not {ctype!r}")
            fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            request = parse_request(fields, api_keys=self.api_keys, message_id=p.channel_message_id)
            return [await self._one(p.channel_message_id or "", request.submission, cid)]
        if ctype != "application/json":
            raise UnknownChannel(f"no parser for channel {p.channel!r} with {p.content_type!r}")
        data = json.loads(body)
        if not isinstance(data, dict):
            raise UnknownChannel("raw JSON body must be an object")
        if p.channel == "phone" and "summary" in data:
            sub = PhoneCall.model_validate(data).to_submission()
        elif p.channel == "letter" and "registration_no" in data:
            sub = Letter.model_validate(data).to_submission()
        elif p.channel == "meeting" and "opinions" in data:
            return await self.meeting(Meeting.model_validate(data))
        else:
            data.setdefault("channel", p.channel)
            data.setdefault("received_at", p.received_at.isoformat())
            # Without an id from the channel, the raw event's own id stands in: a
            # redelivery or a dead-letter replay of the same bytes is the same case.
            data.setdefault("channel_message_id", p.channel_message_id or f"raw-{cid}")
            sub = Submission.model_validate(data)
        return [await self._one(sub.channel_message_id or "", sub, cid)]

    async def _one(self, item_id: str, sub: Submission, correlation_id: str) -> Outcome:
        accepted = await self.submit(sub, correlation_id=correlation_id)
        return Outcome(item_id, accepted.case_id, duplicate=not accepted.created)

    # ------------------------------------------------------------ routing's facts

    async def case_event(self, event: CaseEvent) -> bool:
        """Apply a routing event to intake's view of the case; True if it changed it."""
        name = event.type

        async def attempt() -> bool:
            doc = await self.submissions.get_case(event.payload.case_id)
            if doc is None:
                # Not a case intake received (another org, or a stream replayed into a
                # fresh database): nothing to show for it.
                self.metrics.case_updates.labels(name, "unknown_case").inc()
                return False
            progress = Progress.from_doc(doc.get("progress"))
            changed = apply(progress, event)
            if changed is None:
                # Events a crash left unpublished are the store's sweep's to find.
                self.metrics.case_updates.labels(name, "stale").inc()
                return False
            doc["progress"] = changed.to_doc()
            _index_fields(doc)
            public = PublicCaseUpdated(
                event_id=new_event_id(str(event.event_id), "public"),
                org_id=self.org_id,
                correlation_id=event.correlation_id or doc["case_id"],
                payload=public_payload(doc, changed),
            )
            emission = Emission.of(public)
            if not await self.submissions.update(doc, doc["version"], [emission]):
                raise ConcurrencyError(f"case {event.payload.case_id} changed meanwhile")
            self.metrics.case_updates.labels(name, "applied").inc()
            await self.submissions.flush(doc["_id"])
            return True

        return await retry_on_conflict(attempt)


def public_text_of(kind: str, text: str) -> str:
    from services.intake.domain.progress import public_text

    return public_text(kind, text)


def _index_fields(doc: dict[str, Any]) -> None:
    """Fields Open311 filters on, kept beside the state they are derived from."""
    progress = Progress.from_doc(doc.get("progress"))
    doc["is_open"] = progress.is_open
    doc["effective_service_code"] = doc.get("service_code") or progress.category or "general"


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def channel_of(text: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):
        payload = data.get("payload")
        if isinstance(payload, dict) and isinstance(payload.get("channel"), str):
            return str(payload["channel"])
    return None
