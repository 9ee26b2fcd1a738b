"""Use cases of intake: accept a submission as exactly one case, whatever path it came by."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from services.intake.channels import line
from services.intake.channels.email import parse_email
from services.intake.channels.forms import BoxSession, Letter, Meeting, PhoneCall, parse_box_csv
from services.intake.channels.open311 import parse_request
from services.intake.domain import rules
from services.intake.domain.errors import IntakeError, UnknownChannel
from services.intake.domain.model import Accepted, Reply, Submission
from services.intake.domain.progress import AWAITING_CITIZEN, CaseEvent
from services.intake.domain.record import Events, SubmissionRecord, media_ref, to_citizen
from services.intake.metrics import IntakeMetrics
from services.intake.ports import (
    RecordBook,
    SubmissionRepository,
    Threads,
)
from services.intake.vault import EntryKind, PersonalVault
from shared.audit import AuditTrail
from shared.clock import Clock
from shared.errors import ConcurrencyError
from shared.events.cases import CaseClosed, CaseResolved, CaseStatusChanged, Channel
from shared.events.envelope import new_event_id
from shared.events.intake import (
    STATUS,
    NotificationRequestedPayload,
    RawPayloadReceived,
    RawPayloadReceivedPayload,
)
from shared.locks import KeyedLocks
from shared.outbox import Emission, RawPublisher
from shared.store import retry_on_conflict
from shared.topics import Topic

log = logging.getLogger(__name__)

_CONTACT_NS = uuid.UUID("0f5b8d57-6a0e-4b8e-9c43-3f3a4f0f5d21")
_TEXT_NS = uuid.UUID("5d0c6a8e-2b47-4f0e-8a3c-9b1e7d6f4a20")
MAX_SEQUENCE_ATTEMPTS = 5
# LINE waits about two seconds for its answer; what is not taken within this is deferred.
LINE_ANSWER_BUDGET = 1.0
BATCH_CONCURRENCY = 8


@dataclass(frozen=True)
class Outcome:
    """What became of one item of a batch (a slip, an opinion, a LINE event)."""

    item_id: str
    case_id: str | None = None
    duplicate: bool = False
    added_to_case: bool = False
    refused: str | None = None
    # Kept on intake.raw, to be taken when the fault that stopped it passes: no case yet.
    deferred: bool = False
    # A LINE message that only asked after a case (its number): answered, no case opened.
    asked: bool = False
    # A LINE message taken back (unsend) from the case.
    withdrawn: bool = False

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.item_id}
        if self.refused is not None:
            out["refused"] = self.refused
        elif self.deferred:
            out.update(case_id=None, deferred=True)
        elif self.asked:
            out.update(case_id=None, asked_about=self.case_id)
        elif self.withdrawn:
            out.update(case_id=self.case_id, withdrawn=True)
        else:
            out.update(case_id=self.case_id, duplicate=self.duplicate)
            if self.added_to_case:
                out["added_to_case"] = True
        return out


def contact_ref(contact_key: str) -> str:
    return "ct_" + uuid.uuid5(_CONTACT_NS, contact_key).hex


def text_ref(message_key: str) -> str:
    """Where a message's own words are in the vault: one per channel message."""
    return "tx_" + uuid.uuid5(_TEXT_NS, message_key).hex


class IntakeHandlers:
    def __init__(
        self,
        submissions: SubmissionRepository,
        vault: PersonalVault,
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
        audit: AuditTrail | None = None,
    ) -> None:
        self.submissions = submissions
        self.vault = vault
        # The vault purges nothing of a case that is still open.
        vault.still_needed = self._still_open
        # Reads of the vault go on the audit trail before anything is shown.
        self.audit = audit or (AuditTrail(publisher, "intake", clock) if publisher else None)
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
        self.line_budget = LINE_ANSWER_BUDGET
        self.agencies: Mapping[str, str] = agencies or {}
        # One user's messages are decided one at a time (this process is the only
        # LINE consumer); across users, everything runs concurrently.
        self._threads_in_hand = KeyedLocks()

    # ------------------------------------------------------------ the canonical path

    async def submit(
        self,
        sub: Submission,
        *,
        correlation_id: str | None = None,
        contact_key: str | None = None,
        reply: Reply | None = None,
    ) -> Accepted:
        now = self.clock.now()
        rules.check_allowed(sub, now)
        key = rules.dedup_key(sub, now)
        seen = await self.submissions.get(key)
        if seen is not None:
            self.metrics.duplicates.labels(sub.channel.value).inc()
            await self.submissions.flush(seen.dedup_key)  # a crash may have left events unsent
            return Accepted(seen.case_id, seen.received_at, created=False)

        at = rules.received_at(sub, now)
        ref = self._contact_ref(sub, contact_key or key)
        words = text_ref(key)
        personal: list[tuple[str, EntryKind, Any]] = [(words, "text", sub.text)]
        if ref is not None and sub.contact is not None:
            personal.append((ref, "contact", sub.contact.model_dump(exclude_none=True)))
        # In the vault before the case exists: no event ever names a reference to nothing.
        # The case number is drawn meanwhile (two round trips at once, not one after the
        # other); if the vault write fails, that number stays unused, as after a lost race.
        counter = rules.counter_key(self.org_id, at)
        _, seq = await asyncio.gather(
            self.vault.keep_all(personal, owner=key), self.submissions.next_sequence(counter)
        )
        for attempt in range(MAX_SEQUENCE_ATTEMPTS):
            if attempt:
                seq = await self.submissions.next_sequence(counter)
            record, events = SubmissionRecord.receive(
                sub,
                dedup_key=key,
                case_id=rules.case_id(self.case_prefix, at, seq),
                received_at=at,
                stored_at=now,
                contact_ref=ref,
                text_ref=words,
                org_id=self.org_id,
                correlation_id=correlation_id,
                reply=reply,
            )
            # Concurrent writers of the case (routing's answers arriving before this
            # flush) are ordered by the shared outbox's version claims.
            added = await self.submissions.add(record, _emissions(events))
            if added:
                await self.submissions.flush(key)
                self.metrics.accepted.labels(sub.channel.value, sub.kind.value).inc()
                return Accepted(record.case_id, at, created=True)
            seen = await self.submissions.get(key)
            if seen is not None:  # the same message, concurrently: theirs stands
                self.metrics.duplicates.labels(sub.channel.value).inc()
                await self.submissions.flush(seen.dedup_key)
                return Accepted(seen.case_id, seen.received_at, created=False)
            # else the case number was taken (a counter race): draw the next one
        raise RuntimeError(f"could not allocate a case number for {key}")

    def _contact_ref(self, sub: Submission, key: str) -> str | None:
        """Where the submission's contact is kept; None if it gives none or asks for none."""
        if sub.contact is None or sub.contact.is_empty():
            return None
        if sub.is_corruption and not sub.wants_contact:
            return None  # anonymous unless the person explicitly asks to be contacted
        if sub.wants_contact is False:
            return None
        return contact_ref(key)

    async def _still_open(self, dedup_key: str) -> bool:
        record = await self.submissions.get(dedup_key)
        return record is not None and record.is_open

    async def line_media(
        self, message_id: str, look: Callable[[], Awaitable[None]]
    ) -> tuple[bytes, str] | None:
        """Intake's copy of what was sent on LINE (a photo, a voice message, a video, a
        file): its bytes and media type, None if it has none. The caller has checked who
        asks; `look` puts the look on the audit trail once the copy is found, before it is
        opened."""
        kept = await self.vault.read(media_ref(message_id), before_open=look)
        if not isinstance(kept, dict):
            return None
        return base64.b64decode(kept["data"]), str(kept["media_type"])

    async def personal(self, record: SubmissionRecord) -> dict[str, Any]:
        """The case's personal data from the vault. The caller has checked who asks
        (domain.access) and put the reads on the audit trail."""
        contact = await self.vault.read(record.contact_ref) if record.contact_ref else None
        text = await self.vault.read(record.text_ref) if record.text_ref else None
        additions = []
        for a in record.additions:
            words = await self.vault.read(a.text_ref) if a.text_ref else None
            additions.append({"at": a.at, "kind": a.kind, "text": words})
        return {
            "case_id": record.case_id,
            "kind": record.kind.value,
            "channel": record.channel.value,
            "received_at": record.received_at,
            # None once retention has purged it, or for a case stored before the vault.
            "text": text,
            "additions": additions,
            "contact": contact,
            # A contact given but purged is not the same as none given.
            "contact_given": record.contact_ref is not None,
        }

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

    async def line_webhook(
        self, body: bytes, signature_header: str | None, *, defer_on_failure: bool = False
    ) -> list[Outcome]:
        """Verify, then take every message event. An event that fails does not stop the
        others. With `defer_on_failure` (LINE's own call), a body with a failed event is
        put whole on intake.raw, where it is taken again, with retries, once the fault
        passes: LINE redelivers a refused call only where the channel has turned that on,
        so answering it 503 could lose the citizen's message. So is a body whose events
        outlast `line_budget`, so that LINE has its answer in time. Events taken now are
        duplicates then. Without it (the raw path itself), the failure is raised."""
        try:
            line.verify_signature(self.line_secret, body, signature_header)
        except IntakeError:
            self.metrics.signature_refusals.labels("line").inc()
            raise
        started = time.monotonic()
        outcomes: list[Outcome] = []
        failed: Exception | None = None
        late: list[tuple[int, line.Incoming | line.Unsent]] = []
        for item in line.parse_webhook(body):
            if isinstance(item, line.Skipped):
                self.metrics.refused.labels("line", "skipped_event").inc()
                outcomes.append(Outcome(item.event_id, refused=item.reason))
                continue
            taken = len(outcomes) - len(late)
            if defer_on_failure and taken and time.monotonic() - started > self.line_budget:
                # A body of many events: the rest wait on intake.raw, so LINE has its answer.
                late.append((len(outcomes), item))
                outcomes.append(Outcome(item.event_id, deferred=True))
                continue
            try:
                outcomes.append(await self._line_event(item))
            except Exception as exc:
                failed = failed or exc
                outcomes.append(Outcome(item.event_id, deferred=True))
        if failed is None and not late:
            return outcomes
        if failed is not None and (not defer_on_failure or self.publisher is None):
            raise failed
        try:
            if self.publisher is None:
                raise RuntimeError("no publisher to keep the body with")
            await self._defer_line(self.publisher, body, signature_header or "")
        except Exception:
            if failed is not None:
                raise failed from None  # neither taken nor kept: LINE hears 503
            for at, item in late:  # not kept: taken now, however long LINE waits
                outcomes[at] = await self._line_event(item)
            return outcomes
        log.warning("LINE events deferred to intake.raw after: %r", failed or "the time budget")
        self.metrics.deferred.labels("line").inc(sum(o.deferred for o in outcomes))
        return outcomes

    async def _defer_line(self, publisher: RawPublisher, body: bytes, signature: str) -> None:
        # The signature is over the exact bytes, so they travel unchanged; one key keeps
        # deferred bodies in the order LINE sent them.
        try:
            text, headers = body.decode("utf-8"), {"x-line-signature": signature}
        except UnicodeDecodeError:
            text = base64.b64encode(body).decode("ascii")
            headers = {"x-line-signature": signature, "content-transfer-encoding": "base64"}
        digest = hashlib.sha256(body).hexdigest()
        raw = RawPayloadReceived(
            event_id=new_event_id(digest, "line-deferred"),
            org_id=self.org_id,
            payload=RawPayloadReceivedPayload(
                channel=Channel.LINE.value,
                received_at=self.clock.now(),
                body=text,
                channel_message_id=f"line-body:{digest}",
                headers=headers,
            ),
        )
        key = f"{self.org_id}:line"
        await publisher.publish_raw(Topic.INTAKE_RAW, key, raw.model_dump_json().encode())

    async def _line_seen(self, msg: line.Incoming) -> Outcome | None:
        seen = await self.submissions.get(msg.message_key)
        if seen is None:
            return None
        self.metrics.duplicates.labels("line").inc()
        await self.submissions.flush(seen.dedup_key)
        return Outcome(msg.event_id, seen.case_id, duplicate=True)

    async def _line_event(self, item: line.Incoming | line.Unsent) -> Outcome:
        if isinstance(item, line.Unsent):
            return await self._line_unsent(item)
        # Its unsend names it by LINE's id. Remembered first: a message that then forms no
        # case leaves a name that leads nowhere, never a case its unsend cannot find.
        await self.submissions.name_message(line.message_ref(item.message_id), item.message_key)
        return await self._line_message(item)

    async def _line_unsent(self, unsent: line.Unsent) -> Outcome:
        """The citizen took back a message of a case: its words leave the vault and the
        public text, the officer sees it on the case's timeline (domain: withdraw)."""
        key = await self.submissions.message_named(line.message_ref(unsent.message_id))
        if key is None:  # a sticker, a question about a case, a message never taken
            self.metrics.refused.labels("line", "skipped_event").inc()
            return Outcome(unsent.event_id, refused="unsend: the message is in no case")

        async def attempt() -> str | None:
            record = await self.submissions.get(key)
            if record is None:
                return None
            erased, events = record.withdraw(key, unsent.at, org_id=self.org_id)
            if not events:  # withdrawn before: its events may be unsent after a crash
                await self.submissions.flush(record.dedup_key)
                return record.case_id
            # Erased first: a crash before the save leaves words gone and the withdrawal to
            # be done again on LINE's redelivery or intake.raw's, never words kept.
            await self.vault.erase(erased)
            if not await self.submissions.update(record, _emissions(events)):
                raise ConcurrencyError(f"case of {key} changed meanwhile")
            await self.submissions.flush(record.dedup_key)
            self.metrics.withdrawn.labels("line").inc()
            return record.case_id

        case_id = await retry_on_conflict(attempt)
        if case_id is None:
            return Outcome(unsent.event_id, refused="unsend: the message is in no case")
        return Outcome(unsent.event_id, case_id, withdrawn=True)

    async def _line_message(self, msg: line.Incoming) -> Outcome:
        if (seen := await self._line_seen(msg)) is not None:
            return seen
        if (asked := rules.asked_case(msg.text, self.case_prefix)) is not None:
            return await self._line_status(msg, asked)
        if msg.user_id is None:  # no one to thread by, or to answer
            return await self._line_case(msg, None, None)
        thread_key = contact_ref("line-user:" + msg.user_id)
        async with self._threads_in_hand.hold(thread_key):
            # Again, in hand: the same event delivered twice at once (LINE gave up waiting
            # on the first) may have opened its case meanwhile.
            if (seen := await self._line_seen(msg)) is not None:
                return seen
            thread = await self.threads.get(thread_key) if self.threads else None
            last_at = thread["last_at"] if thread else None
            if thread is not None and (
                line.continues_thread(last_at, msg.at, self.line_window)
                # An officer asked this citizen about their case (pushed to them on LINE):
                # their answer joins it, however long after it comes.
                or await self._awaits_citizen(thread["dedup_key"])
            ):
                case_id = await self._add_to_case(thread["dedup_key"], msg)
                if case_id is not None:
                    await self._touch_thread(
                        thread_key, thread["dedup_key"], case_id, msg.at, last_at
                    )
                    return Outcome(msg.event_id, case_id, added_to_case=True)
            return await self._line_case(msg, thread_key, thread)

    async def _line_status(self, msg: line.Incoming, case_id: str) -> Outcome:
        """A citizen asks after a case by its number: the answer is its public status, on
        LINE (the status anyone may read on the public website), and no case is opened. In a
        group, a member LINE gives no user id has no one to answer."""
        record = await self.submissions.get_case(case_id)
        params = {"case_id": case_id}
        if record is not None:
            params["status"] = record.progress.status
        if msg.user_id and self.publisher is not None:
            ref = contact_ref("line-user:" + msg.user_id)
            if not await self.vault.has(ref):
                # Whom to answer, kept as a reporter's LINE id is, for the retention period.
                await self.vault.keep(ref, "contact", {"line_user_id": msg.user_id}, owner=ref)
            notice = to_citizen(
                new_event_id(msg.message_key, "status"),
                self.org_id,
                None,
                NotificationRequestedPayload(
                    case_id=case_id,
                    channel=Channel.LINE.value,
                    recipient_ref=ref,
                    template=STATUS,
                    params=params,
                ),
                msg.reply(),
            )
            await self.publisher.publish_all([(notice.topic, case_id, notice.to_bytes())])
        self.metrics.status_queries.labels("line").inc()
        return Outcome(msg.event_id, case_id, asked=True)

    async def _awaits_citizen(self, dedup_key: str) -> bool:
        record = await self.submissions.get(dedup_key)
        return record is not None and record.progress.awaits_citizen

    async def _line_case(
        self, msg: line.Incoming, thread_key: str | None, thread: dict[str, Any] | None
    ) -> Outcome:
        """A new case for the message; its conversation's thread follows it, unless the
        thread is already at a later message (a redelivery coming after it)."""
        contact_key = "line-user:" + msg.user_id if msg.user_id else None
        try:
            accepted = await self.submit(
                msg.to_submission(), contact_key=contact_key, reply=msg.reply()
            )
        except IntakeError as exc:
            self.metrics.refused.labels("line", "refused").inc()
            return Outcome(msg.event_id, refused=str(exc))
        if thread_key is not None:
            last_at = thread["last_at"] if thread else None
            newer = last_at is None or msg.at >= last_at
            if thread is None or (accepted.created and newer):
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
        follow_up = msg.follow_up()
        words = text_ref(follow_up.key) if follow_up.text else None

        async def attempt() -> str | None:
            record = await self.submissions.get(dedup_key)
            if record is None:
                return None
            if record.dedup_key == follow_up.key:
                return record.case_id  # the message that opened the case, come again
            if record.is_full() and not record.has_addition(follow_up.key):
                return None  # a new case carries the conversation on
            if words is not None and not record.has_addition(follow_up.key):
                await self.vault.keep(words, "text", follow_up.text, owner=record.dedup_key)
            events = record.add_follow_up(
                follow_up, org_id=self.org_id, text_ref=words, reply=msg.reply()
            )
            if not events:  # added before, and maybe a crash lost its alias since
                await self.submissions.alias(follow_up.key, dedup_key)
                await self.submissions.flush(dedup_key)  # ...or its events
                return record.case_id
            if not await self.submissions.update(record, _emissions(events)):
                raise ConcurrencyError(f"case of {dedup_key} changed meanwhile")
            await self.submissions.alias(follow_up.key, dedup_key)
            await self.submissions.flush(dedup_key)
            self.metrics.additions.labels("line").inc()
            return record.case_id

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
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:  # invalid, a 5,000-digit number, too deep
            raise IntakeError(f"raw JSON body is not valid JSON: {str(exc)[:200]}") from exc
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
        if isinstance(event, CaseStatusChanged) and event.payload.in_assignment:
            # The case.assigned of the same change brings this status too (status_seq):
            # nothing to read or write for it.
            self.metrics.case_updates.labels(name, "in_assignment").inc()
            return False

        async def attempt() -> bool:
            record = await self.submissions.get_case(event.payload.case_id)
            if record is None:
                # Not a case intake received (another org, or a stream replayed into a
                # fresh database): nothing to show for it.
                self.metrics.case_updates.labels(name, "unknown_case").inc()
                return False
            events = record.apply(event, org_id=self.org_id)
            if not events:
                # Seen before: a redelivery after a crash may find its events unpublished.
                self.metrics.case_updates.labels(name, "stale").inc()
                await self.submissions.flush(record.dedup_key)
                if (
                    isinstance(event, CaseStatusChanged)
                    and event.payload.to_status == AWAITING_CITIZEN
                    and record.progress.awaits_citizen
                ):
                    # ...and the chat not yet pointed at the asked case, if it came between.
                    await self._await_answer(record)
                return False
            if isinstance(event, CaseResolved | CaseClosed):
                # Retention runs from the (last) closing. Before the record is saved: once it
                # is, a redelivery of this event is stale and would not come here again.
                closed = (
                    event.payload.resolved_at
                    if isinstance(event, CaseResolved)
                    else event.payload.closed_at
                )
                await self.vault.retain(record.vault_refs, since=closed, owner=record.dedup_key)
            if not await self.submissions.update(record, _emissions(events)):
                raise ConcurrencyError(f"case {event.payload.case_id} changed meanwhile")
            self.metrics.case_updates.labels(name, "applied").inc()
            await self.submissions.flush(record.dedup_key)
            if isinstance(event, CaseStatusChanged) and record.progress.awaits_citizen:
                await self._await_answer(record)
            return True

        return await retry_on_conflict(attempt)

    async def _await_answer(self, record: SubmissionRecord) -> None:
        """An officer asked the citizen of a LINE case something (pushed to them): their
        next message joins this case, even if a later one of theirs is what the chat was on.
        A LINE case's contact reference is its sender's thread key."""
        if record.channel is not Channel.LINE or not record.contact_ref or not self.threads:
            return
        async with self._threads_in_hand.hold(record.contact_ref):
            thread = await self.threads.get(record.contact_ref)
            if thread is not None and thread["dedup_key"] != record.dedup_key:
                await self.threads.put(
                    record.contact_ref,
                    {**thread, "dedup_key": record.dedup_key, "case_id": record.case_id},
                )


def _emissions(events: Events) -> list[Emission]:
    return [Emission.of(e) for e in events]


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
