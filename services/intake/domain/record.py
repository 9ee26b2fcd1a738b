"""A submission as intake keeps it: one record per case, and the decisions on it. Pure.

The record is what intake may still say about a case once routing has it: the redacted
projection Open311 and `public.cases` answer from, the messages a citizen added to it,
and routing's word on its progress. Each decision changes the record and returns the
events that tell of the change; the handler saves both in one write.

Event ids derive from the dedup key or the causing event, never from the moment, so a
decision taken again after a crash or a redelivery emits the same events.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.intake.domain import rules
from services.intake.domain.model import Contact, Reply, Submission
from services.intake.domain.normalize import locate
from services.intake.domain.progress import (
    CORRUPTION_CATEGORY,
    CORRUPTION_TEXT,
    CaseEvent,
    Progress,
    apply,
    default_due,
    later,
    public_text,
)
from shared.events.cases import (
    LINE_CONTENT,
    LINE_MEDIA_KINDS,
    WITHDRAWN,
    Attachment,
    CaseAmended,
    CaseAmendedPayload,
    CaseReceived,
    CaseReceivedPayload,
    Channel,
    Kind,
    Location,
    PublicCasePayload,
    PublicCaseUpdated,
    PublicStep,
)
from shared.events.envelope import Envelope, new_event_id
from shared.events.intake import (
    ANSWERED,
    RECEIVED,
    NotificationRequested,
    NotificationRequestedPayload,
)
from shared.redact import EMAIL, NAME, PHONE, redact
from shared.taxonomy import GENERAL_CODE
from shared.thai import format_thai_date, normalize_text, to_bangkok

Events = list[Envelope[Any]]
# Intake keeps a copy of a photo, a voice message, a video or a file sent on LINE in the
# vault (services/intake/line_content.py), since LINE keeps it only for a while.
_PHOTO_NS = uuid.UUID("8e1f4c2a-3b5d-4e6f-9a7b-1c2d3e4f5a6b")


def line_media(attachment: Attachment | None) -> str | None:
    """The LINE message id of something LINE keeps for us (a photo, a voice message, a video,
    a file); None for anything else."""
    if attachment is None or attachment.kind not in LINE_MEDIA_KINDS:
        return None
    ref = attachment.ref
    return ref.removeprefix(LINE_CONTENT) if ref.startswith(LINE_CONTENT) else None


def media_ref(message_id: str) -> str:
    """Where intake's copy of something sent on LINE is in the vault. Photos were the first
    kept: their prefix and namespace stay, so the copies made before are still found."""
    return "ph_" + uuid.uuid5(_PHOTO_NS, message_id).hex


# A message the citizen took back (LINE's unsend): what the public text shows in its place,
# and what the case's timeline says.
WITHDRAWN_TEXT = "(ผู้แจ้งยกเลิกข้อความนี้แล้ว)"
WITHDRAWN_NOTE = "ผู้แจ้งยกเลิกข้อความที่ส่งทาง LINE เมื่อ {sent}"
# Follow-up messages one case keeps (each at most a LINE message of 5,000 characters).
MAX_ADDITIONS = 100


@dataclass(frozen=True)
class PublicView:
    """The redacted projection: all that Open311 and `public.cases` ever show."""

    text: str = ""
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    village_no: int | None = None
    media_url: str | None = None
    address_id: str | None = None  # the sender's own id of the place (Open311)


@dataclass(frozen=True)
class FollowUp:
    """A later message of a conversation that already opened a case (LINE)."""

    key: str  # its own dedup key: a message is added once
    channel: Channel
    at: datetime
    kind: str  # text | location | image | ...
    text: str | None  # the citizen's own words
    addition: str | None  # what it adds to the case's text
    location: Location | None
    attachment: Attachment | None


@dataclass(frozen=True)
class Addition:
    """A follow-up as the record keeps it; the citizen's own words are in the vault."""

    key: str
    at: datetime
    kind: str
    text_ref: str | None  # the words in the vault; None for a photo or a pin
    attachment: Attachment | None
    lat: float | None
    lon: float | None
    public: str | None = None  # what it added to the public text (redacted)


@dataclass
class SubmissionRecord:
    dedup_key: str  # channel + channel message id: the one case a message opens
    case_id: str
    channel: Channel
    kind: Kind
    received_at: datetime
    stored_at: datetime
    channel_message_id: str | None = None
    contact_ref: str | None = None
    text_ref: str | None = None  # the citizen's own words, in the vault
    service_code: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    public: PublicView = field(default_factory=PublicView)
    additions: list[Addition] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)
    # A digest of the submission as sent: a client's key reused for another request is
    # told apart from a retry of the same one.
    request_digest: str | None = None
    # Messages the citizen took back on LINE (unsend): the opening one's key or additions'.
    withdrawn: list[str] = field(default_factory=list)
    # Optimistic-concurrency version of the stored record (0 = never stored).
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.progress.is_open

    def is_full(self) -> bool:
        """Whether the case takes no more follow-ups: its document stays bounded, and a
        conversation that goes on past this is a new matter."""
        return len(self.additions) >= MAX_ADDITIONS

    def has_addition(self, key: str) -> bool:
        return any(a.key == key for a in self.additions)

    @property
    def vault_refs(self) -> list[str]:
        """Every vault entry this case keeps: its contact, its words, its follow-ups', the
        copies of what was sent on LINE."""
        refs = [self.contact_ref, self.text_ref, *(a.text_ref for a in self.additions)]
        return [r for r in refs if r] + [media_ref(m) for m in self.line_media_ids()]

    def line_media_ids(self, attachments: Sequence[Attachment] | None = None) -> dict[str, str]:
        """The LINE message ids of what intake copies among `attachments` (the case's own),
        each with its attachment kind."""
        found = self.attachments if attachments is None else attachments
        return {m: a.kind for a in found if (m := line_media(a)) is not None}

    @property
    def is_corruption(self) -> bool:
        """A corruption report by kind, by the service it was filed under, or by routing's
        category (a complaint found to be one): its whistle-blower is protected."""
        return (
            self.kind is Kind.CORRUPTION_REPORT
            or self.service_code == CORRUPTION_CATEGORY
            or self.progress.category == CORRUPTION_CATEGORY
        )

    @property
    def effective_service_code(self) -> str:
        """The service Open311 files it under: the citizen's choice, else routing's."""
        return self.service_code or self.progress.category or GENERAL_CODE

    @classmethod
    def receive(
        cls,
        sub: Submission,
        *,
        dedup_key: str,
        case_id: str,
        received_at: datetime,
        stored_at: datetime,
        contact_ref: str | None,
        text_ref: str | None,
        org_id: str,
        correlation_id: str | None,
        reply: Reply | None = None,
    ) -> tuple[SubmissionRecord, Events]:
        """A new case for a submission, with its receipt, acknowledgement and public view.

        No event carries the citizen's own words, name, number or address: the receipt
        has the redacted text (what routing classifies) and references into the vault."""
        location = locate(sub.location, sub.text)
        text = rules.normalized(sub)
        # The redactor finds names by their titles; the sender's own name, number and
        # address are known here, so they go too wherever they are written.
        scrubbed = without_contact(redact(text), sub.contact)
        protected = sub.is_corruption
        # A corruption report's place can point at whoever reported it: it is not published.
        shown = None if protected else location
        record = cls(
            dedup_key=dedup_key,
            case_id=case_id,
            channel=sub.channel,
            kind=sub.kind,
            received_at=received_at,
            stored_at=stored_at,
            channel_message_id=sub.channel_message_id,
            contact_ref=contact_ref,
            text_ref=text_ref,
            service_code=sub.service_code,
            links=dict(sub.links),
            attachments=list(sub.attachments),
            public=PublicView(
                text=CORRUPTION_TEXT
                if protected
                else public_text(sub.kind.value, text, scrubbed=scrubbed),
                address=without_contact(redact(shown.address), sub.contact)
                if shown and shown.address
                else None,
                lat=shown.lat if shown else None,
                lon=shown.lon if shown else None,
                village_no=shown.village_no if shown else None,
                media_url=None
                if protected
                else next((a.ref for a in sub.attachments if a.kind == "link"), None),
                address_id=None if protected else sub.links.get("address_id"),
            ),
            # Only Open311 refuses a key reused for another request: no digest for the rest.
            request_digest=rules.request_digest(sub) if sub.channel is Channel.OPEN311 else None,
        )
        received = CaseReceived(
            event_id=new_event_id(dedup_key, "received"),
            org_id=org_id,
            correlation_id=correlation_id or case_id,
            payload=CaseReceivedPayload(
                case_id=case_id,
                channel=sub.channel,
                kind=sub.kind,
                text=scrubbed,
                text_ref=text_ref,
                received_at=received_at,
                channel_message_id=sub.channel_message_id,
                location=redacted(location),
                contact_ref=contact_ref,
                attachments=sub.attachments,
                service_code=sub.service_code,
                department_hint=sub.department_hint,
                links=sub.links,
                wants_contact=bool(contact_ref),
            ),
        )
        due = default_due(received_at)
        acknowledgement = to_citizen(
            new_event_id(dedup_key, "ack"),
            org_id,
            received.correlation_id,
            NotificationRequestedPayload(
                case_id=case_id,
                channel=sub.channel.value,
                recipient_ref=contact_ref,
                template=RECEIVED,
                params={
                    "case_id": case_id,
                    "respond_due_at": due.isoformat(),
                    "respond_due_th": format_thai_date(due),
                },
            ),
            reply,
        )
        public = PublicCaseUpdated(
            event_id=new_event_id(dedup_key, "public"),
            org_id=org_id,
            correlation_id=received.correlation_id,
            payload=record.public_payload(),
        )
        return record, [received, acknowledgement, public]

    def add_follow_up(
        self, msg: FollowUp, *, org_id: str, text_ref: str | None, reply: Reply | None = None
    ) -> Events:
        """Add a later message to the case (its words kept in the vault under `text_ref`);
        no events if it was added before. The first message after an officer's question is
        the citizen's answer: they are told it arrived (by `reply` while it lasts)."""
        if self.has_addition(msg.key):
            return []
        asked_at = self.progress.asked_at()
        answers = asked_at is not None and not any(a.at >= asked_at for a in self.additions)
        public = self.public
        added = public_text(self.kind.value, msg.addition) if msg.addition else None
        if added:
            public = replace(public, text="\n".join(t for t in (public.text, added) if t))
        place = locate(msg.location)
        # A place is published once: a later pin does not move it.
        if place is not None and public.lat is None:
            public = replace(
                public,
                lat=place.lat,
                lon=place.lon,
                address=redact(place.address) if place.address else None,
                village_no=public.village_no or place.village_no,
            )
        self.public = public
        self.additions.append(
            Addition(
                key=msg.key,
                at=msg.at,
                kind=msg.kind,
                text_ref=text_ref,
                attachment=msg.attachment,
                lat=msg.location.lat if msg.location else None,
                lon=msg.location.lon if msg.location else None,
                public=added,
            )
        )
        if msg.attachment is not None:
            self.attachments.append(msg.attachment)
        self.progress = replace(self.progress, updated_at=later(self.progress.updated_at, msg.at))
        updated = PublicCaseUpdated(
            event_id=new_event_id(msg.key, "public"),
            org_id=org_id,
            correlation_id=self.case_id,
            payload=self.public_payload(),
        )
        # Routing puts it on the case's timeline and tells the officer.
        amended = CaseAmended(
            event_id=new_event_id(msg.key, "amended"),
            org_id=org_id,
            correlation_id=self.case_id,
            payload=CaseAmendedPayload(
                case_id=self.case_id,
                amendment_id=msg.key,
                channel=msg.channel,
                at=msg.at,
                kind=msg.kind,
                text=redact(normalize_text(msg.addition)) if msg.addition else None,
                attachments=(msg.attachment,) if msg.attachment else (),
                location=redacted(place),
            ),
        )
        if not answers or self.contact_ref is None:
            return [updated, amended]
        thanked = to_citizen(
            new_event_id(msg.key, "answered"),
            org_id,
            self.case_id,
            NotificationRequestedPayload(
                case_id=self.case_id,
                channel=self.channel.value,
                recipient_ref=self.contact_ref,
                template=ANSWERED,
                params={"case_id": self.case_id},
            ),
            reply,
        )
        return [updated, amended, thanked]

    def withdraw(self, key: str, at: datetime, *, org_id: str) -> tuple[list[str], Events]:
        """The citizen took back one of the case's messages (LINE's unsend), by its key:
        the vault entries of its words to erase, and the events. Its words leave the public
        text and the vault; the case stays, an official record with the redacted text the
        officers work from, and its timeline says what the citizen did. Nothing the second
        time, or for a key that is not the case's."""
        opening = key == self.dedup_key
        part = next((a for a in self.additions if a.key == key), None)
        if key in self.withdrawn or (part is None and not opening):
            return [], []
        self.withdrawn = [*self.withdrawn, key]
        public = self.public
        kept = [a.public for a in self.additions if a.public and a is not part]
        suffix = "".join("\n" + t for t in (a.public for a in self.additions if a.public))
        # The public text is the opening message's, then each addition's, joined by lines.
        first = public.text[: len(public.text) - len(suffix)] if suffix else public.text
        if not public.text.endswith(suffix):
            first = public.text  # stored before additions kept their part: as it was
            kept = []
        if opening:
            first = WITHDRAWN_TEXT
        public = replace(public, text="\n".join(t for t in (first, *kept) if t))
        # The place goes with the message that published it: the opening one's, unless a
        # later pin set it; a pin's, if it was the one published.
        shown = (public.lat, public.lon)
        pins = [(a.lat, a.lon) for a in self.additions if a.lat is not None]
        if (opening and shown not in pins) or (part is not None and shown == (part.lat, part.lon)):
            public = replace(public, lat=None, lon=None, address=None)
            if opening:
                public = replace(public, village_no=None)
        self.public = public
        if opening:
            erased = [self.text_ref] if self.text_ref else []
            later_ones = [a.attachment for a in self.additions]
            own = [a for a in self.attachments if a not in later_ones]
            erased += [media_ref(m) for m in self.line_media_ids(own)]
            self.text_ref = None
        else:
            assert part is not None
            erased = [part.text_ref] if part.text_ref else []
            sent = [part.attachment] if part.attachment else []
            erased += [media_ref(m) for m in self.line_media_ids(sent)]
            # Its words, its pin and its copy go; that it was sent, and when, stays.
            gone = replace(part, text_ref=None, public=None, lat=None, lon=None)
            self.additions = [gone if a is part else a for a in self.additions]
        self.progress = replace(self.progress, updated_at=later(self.progress.updated_at, at))
        updated = PublicCaseUpdated(
            event_id=new_event_id(key, "withdrawn-public"),
            org_id=org_id,
            correlation_id=self.case_id,
            payload=self.public_payload(),
        )
        # On the case's timeline and to its officer; not an answer to a question.
        amended = CaseAmended(
            event_id=new_event_id(key, "withdrawn"),
            org_id=org_id,
            correlation_id=self.case_id,
            payload=CaseAmendedPayload(
                case_id=self.case_id,
                amendment_id=f"{key}:withdrawn",
                channel=self.channel,
                at=at,
                kind=WITHDRAWN,
                text=WITHDRAWN_NOTE.format(sent=_thai_time(part.at if part else self.received_at)),
            ),
        )
        return erased, [updated, amended]

    def apply(self, event: CaseEvent, *, org_id: str) -> Events:
        """Take in routing's word on the case; no events if it is stale or already applied."""
        changed = apply(self.progress, event)
        if changed is None:
            return []
        self.progress = changed
        return [
            PublicCaseUpdated(
                event_id=new_event_id(str(event.event_id), "public"),
                org_id=org_id,
                correlation_id=event.correlation_id or self.case_id,
                payload=self.public_payload(),
            )
        ]

    def public_payload(self) -> PublicCasePayload:
        """The redacted projection of the case: what measure 1 may publish."""
        # A complaint routing found to be corruption is protected from then on.
        hidden = self.is_corruption
        return PublicCasePayload(
            case_id=self.case_id,
            kind=self.kind,
            channel=self.channel,
            status=self.progress.status,
            category=self.progress.category or self.service_code,
            department=self.progress.department,
            text=CORRUPTION_TEXT if hidden else self.public.text,
            village_no=None if hidden else self.public.village_no,
            received_at=self.received_at,
            updated_at=self.progress.updated_at or self.received_at,
            timeline=tuple(PublicStep(status=s.status, at=s.at) for s in self.progress.steps),
            acknowledge_due_at=self.progress.acknowledge_due_at,
            respond_due_at=self.progress.respond_due_at or default_due(self.received_at),
            # The notes of a closed matter say what was done (routing's resolution); a
            # corruption report's could point at whoever reported it.
            resolution=None if self.is_open or self.is_corruption else self.progress.status_notes,
            lat=None if hidden else coarse(self.public.lat),
            lon=None if hidden else coarse(self.public.lon),
        )


# Decimal places of a published coordinate: 3 is about 110 m, a street, not a house.
PUBLIC_COORDINATE_PLACES = 3


def coarse(degrees: float | None) -> float | None:
    return None if degrees is None else round(degrees, PUBLIC_COORDINATE_PLACES)


# Shorter parts are words as often as names: nicknames are common words (น้ำ water, ฟ้า
# sky, ปลา fish), and scrubbing น้ำ would turn น้ำท่วม (a flood) into nothing routing knows.
MIN_NAME_PART = 4
# A title typed into a name field names nobody, and would cut นายก or นางฟ้า in half.
_TITLES = frozenset(
    {"นาย", "นาง", "นางสาว", "น.ส.", "คุณ", "เด็กชาย", "เด็กหญิง", "ด.ช.", "ด.ญ."}
    | {"mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss", "dr", "dr."}
)
_SEPARATOR = r"[\s\-.()]?"


def _phone_forms(e164: str) -> list[str]:
    """Patterns of a number as people write it: +66 8 1234 5678, 081-234-5678..."""
    digits = e164.lstrip("+")
    forms = [digits]
    if digits.startswith("66"):
        forms.append("0" + digits[2:])
    return [(r"\+?" if f.startswith("66") else "") + _SEPARATOR.join(f) for f in forms]


def without_contact(text: str, contact: Contact | None) -> str:
    """`text` with the sender's own name parts, number and e-mail replaced by the
    redactor's placeholders, found wherever they stand (Thai runs words together)."""
    if contact is None or not text:
        return text
    if contact.email:
        text = re.sub(re.escape(contact.email), EMAIL, text, flags=re.IGNORECASE)
    if contact.phone:
        for form in _phone_forms(contact.phone):
            text = re.sub(rf"(?<![0-9]){form}(?![0-9])", PHONE, text)
    parts = {
        p
        for p in (contact.name or "").split()
        if len(p) >= MIN_NAME_PART and p.lower() not in _TITLES
    }
    # Longest first, so a part inside another part does not split it.
    for part in sorted(parts, key=len, reverse=True):
        text = re.sub(re.escape(part), NAME, text, flags=re.IGNORECASE)
    return text


def to_citizen(
    event_id: uuid.UUID,
    org_id: str,
    correlation_id: str | None,
    notice: NotificationRequestedPayload,
    reply: Reply | None,
) -> NotificationRequested:
    """What the citizen is to be told, by the adapter of their channel: as the answer to the
    message they just sent while `reply` lasts, else as any later message."""
    if reply is not None:
        notice = notice.model_copy(update={"reply_token": reply.token, "reply_until": reply.until})
    return NotificationRequested(
        event_id=event_id, org_id=org_id, correlation_id=correlation_id, payload=notice
    )


def _thai_time(moment: datetime) -> str:
    local = to_bangkok(moment)
    return f"{format_thai_date(local, short=True)} {local:%H:%M} น."


def redacted(location: Location | None) -> Location | None:
    """A place fit for an event: its address redacted (a house number, a name)."""
    if location is None or not location.address:
        return location
    return location.model_copy(update={"address": redact(location.address)})
