"""Facts about citizens' matters (measure 2 and 3). Keyed by case id on Kafka."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, model_validator

from shared.events.envelope import Contract, Envelope
from shared.topics import Topic


class Channel(StrEnum):
    WEB = "web"
    OPEN311 = "open311"
    LINE = "line"
    PHONE = "phone"
    LETTER = "letter"
    SUGGESTION_BOX = "suggestion_box"
    EMAIL = "email"
    MEETING = "meeting"  # activities and public meetings (ประชาคม)
    WALK_IN = "walk_in"
    TRAFFY = "traffy"  # forwarded from the national Traffy Fondue platform
    INTERNAL = "internal"  # raised by the platform itself (e.g. improvement actions)


class Kind(StrEnum):
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    OPINION = "opinion"
    COMPLIMENT = "compliment"
    QUESTION = "question"
    CORRUPTION_REPORT = "corruption_report"
    # Raised by the survey service when satisfaction demands improvement.
    IMPROVEMENT_ACTION = "improvement_action"


CITIZEN_KINDS = tuple(k for k in Kind if k is not Kind.IMPROVEMENT_ACTION)


class Location(Contract):
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = None
    village_no: int | None = Field(default=None, ge=1, le=99)  # หมู่ที่


# An attachment's ref for something a user sent on LINE: LINE's message id behind this prefix.
# Of those, intake keeps a copy of these kinds (services/intake/line_content.py), which the
# console shows through intake.
LINE_CONTENT = "line:message/"
LINE_MEDIA_KINDS = frozenset({"image", "audio", "video", "document"})
# What a LINE case's text says for a message without words (by LINE's message type), and
# before a pin's address: the channel's words, not the citizen's.
LINE_NO_WORDS = {
    "image": "(ภาพถ่ายส่งทาง LINE)",
    "video": "(วิดีโอส่งทาง LINE)",
    "audio": "(ข้อความเสียงส่งทาง LINE)",
    "file": "(ไฟล์ส่งทาง LINE)",
}
LINE_PIN_TEXT = "(ตำแหน่งที่ส่งทาง LINE)"


def citizen_words(text: str) -> str:
    """`text` as far as the citizen wrote it: empty for a case whose text a channel put in
    for a message without words (a photo, a voice message, a pin and its address), which
    nobody may classify or compare as if someone had written it ("เสียง" is not noise)."""
    said = text.strip()
    return "" if said in LINE_NO_WORDS.values() or said.startswith(LINE_PIN_TEXT) else text


class Attachment(Contract):
    kind: Literal["image", "document", "audio", "video", "link"] = "image"
    ref: str  # a message id, a file reference or a URL; never the bytes


class CaseReceivedPayload(Contract):
    """A new matter, with no personal data: Kafka is read by every service, and a topic keeps
    what it was given for as long as its retention (docs/personal-data.md)."""

    case_id: str
    channel: Channel
    kind: Kind
    text: str  # normalized, then redacted (shared.redact): what routing classifies and shows
    # The citizen's own words stay in intake's encrypted vault, under this reference; they are
    # read through intake's audited GET /v1/cases/{case_id}/personal.
    text_ref: str | None = None
    received_at: AwareDatetime  # when the agency received the matter (the legal clock)
    channel_message_id: str | None = None
    location: Location | None = None
    contact_ref: str | None = None  # a reference into intake's restricted contacts
    attachments: tuple[Attachment, ...] = ()
    service_code: str | None = None  # a category the citizen chose (Open311), if any
    department_hint: str | None = None  # for internal cases addressed to a department
    links: dict[str, str] = Field(default_factory=dict)  # e.g. {"activity_id": ...}
    wants_contact: bool = True

    @model_validator(mode="before")
    @classmethod
    def _without_original_text(cls, data: Any) -> Any:
        # Events published before the vault carried the original words as `original_text`;
        # they stay on the topics until retention drops them, and a consumer replaying them
        # must not dead-letter them for a field that is no longer read.
        if isinstance(data, dict) and "original_text" in data:
            return {k: v for k, v in data.items() if k != "original_text"}
        return data


class CaseReceived(Envelope[CaseReceivedPayload]):
    topic: ClassVar[Topic] = Topic.CASE_RECEIVED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["CaseReceived"] = "CaseReceived"


class RankedCategory(Contract):
    code: str
    score: float
    label_th: str | None = None


class CaseAssignedPayload(Contract):
    case_id: str
    kind: Kind
    channel: Channel
    department: str
    officer_id: str | None
    categories: tuple[RankedCategory, ...] = ()
    reasons: tuple[str, ...] = ()
    received_at: AwareDatetime
    acknowledge_due_at: AwareDatetime | None = None
    respond_due_at: AwareDatetime | None = None
    assignment_no: int = 1  # bumps on transfer / re-route
    # The seq of the status change to "assigned" that came with it, so a view can take
    # both from this one event (the case.status_changed of that seq is then stale to it).
    status_seq: int | None = None
    # Case numbers (never personal data): the open report routing judged this one a likely
    # duplicate of, and the first report of that one's chain, by which insight groups all
    # reports of one problem into one hotspot (events before duplicate_root have only the first).
    likely_duplicate_of: str | None = None
    duplicate_root: str | None = None


class CaseAssigned(Envelope[CaseAssignedPayload]):
    topic: ClassVar[Topic] = Topic.CASE_ASSIGNED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["CaseAssigned"] = "CaseAssigned"


class CaseStatusChangedPayload(Contract):
    case_id: str
    from_status: str
    to_status: str
    action: str
    officer_id: str | None = None
    note: str | None = None
    seq: int  # position in the case's timeline: consumers apply each seq once
    # The case.assigned of the same change carries this seq (`status_seq`): a consumer
    # of both may take it from there and skip this one.
    in_assignment: bool = False


class CaseStatusChanged(Envelope[CaseStatusChangedPayload]):
    topic: ClassVar[Topic] = Topic.CASE_STATUS_CHANGED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["CaseStatusChanged"] = "CaseStatusChanged"


class CaseResolvedPayload(Contract):
    case_id: str
    kind: Kind
    channel: Channel
    department: str
    officer_id: str | None
    category: str | None
    contact_ref: str | None
    resolution: str
    after_photo_ref: str | None = None
    # The owner's reading of why it happened (measure 3): a code from the category's short list
    # in shared.taxonomy, and a free note. Both optional; older events have neither.
    cause: str | None = None
    cause_note: str | None = None
    received_at: AwareDatetime
    resolved_at: AwareDatetime
    seq: int


class CaseResolved(Envelope[CaseResolvedPayload]):
    topic: ClassVar[Topic] = Topic.CASE_RESOLVED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["CaseResolved"] = "CaseResolved"


class CaseEscalatedPayload(Contract):
    case_id: str
    level: int  # 1 = head of division, 2 = ปลัด, 3 = นายก
    to_role: str
    to_officer_id: str | None
    reason: str
    due_at: datetime | None = None


class CaseEscalated(Envelope[CaseEscalatedPayload]):
    topic: ClassVar[Topic] = Topic.CASE_ESCALATED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["CaseEscalated"] = "CaseEscalated"


class CaseClosedPayload(Contract):
    case_id: str
    closed_at: AwareDatetime
    reason: str | None = None
    seq: int


class CaseClosed(Envelope[CaseClosedPayload]):
    topic: ClassVar[Topic] = Topic.CASE_CLOSED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["CaseClosed"] = "CaseClosed"


class CaseCommandPayload(Contract):
    """An action on a case, asked for by an officer or another service."""

    case_id: str
    action: str
    officer_id: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    command_id: str  # idempotency key: the same command twice acts once


class CaseCommandIssued(Envelope[CaseCommandPayload]):
    topic: ClassVar[Topic] = Topic.CASE_COMMANDS
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["CaseCommandIssued"] = "CaseCommandIssued"


# CaseAmended's kind when the citizen took a message back (LINE's unsend): no answer to a
# question, only a note on the case's timeline and to its officer.
WITHDRAWN = "withdrawn"


class CaseAmendedPayload(Contract):
    """The citizen added to their matter: a follow-up message, a photo, a place, or the
    answer to an officer's question; or took one of its messages back (kind `withdrawn`)."""

    case_id: str
    amendment_id: str  # the channel's id of the addition: each is applied once
    channel: Channel
    at: AwareDatetime
    kind: str  # text | image | location | ... | withdrawn
    text: str | None = Field(default=None, max_length=10_000)
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None


class CaseAmended(Envelope[CaseAmendedPayload]):
    topic: ClassVar[Topic] = Topic.CASE_AMENDED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["CaseAmended"] = "CaseAmended"


class PublicStep(Contract):
    """One step of a case's public timeline: the status it reached, and when."""

    status: str
    at: AwareDatetime


class PublicCasePayload(Contract):
    """Redacted projection for publication (measure 1): no personal data.

    The fields after `updated_at` came later (the public website's tracker and map): a
    projection published before them reads with their defaults."""

    case_id: str
    kind: Kind
    channel: Channel
    status: str
    category: str | None = None
    department: str | None = None
    text: str  # scrubbed of names, phones, emails, ID numbers, house numbers
    village_no: int | None = None
    received_at: AwareDatetime
    updated_at: AwareDatetime
    # Status changes after receipt, oldest first (bounded: the first and the newest).
    timeline: tuple[PublicStep, ...] = ()
    acknowledge_due_at: AwareDatetime | None = None
    respond_due_at: AwareDatetime | None = None  # the legal reply deadline (15 days)
    resolution: str | None = None  # what was done, redacted
    # A coarse point for the map (rounded to about 100 m); never a corruption report's.
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class PublicCaseUpdated(Envelope[PublicCasePayload]):
    topic: ClassVar[Topic] = Topic.PUBLIC_CASES
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["PublicCaseUpdated"] = "PublicCaseUpdated"
