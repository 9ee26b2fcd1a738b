"""Staff-entered and batch channels: telephone, letters, suggestion boxes, public meetings.

Each parser turns the channel's native record into canonical `Submission`s, or
raises naming the field to fix. Pure: the same parsers serve HTTP and `intake.raw`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from services.intake.domain.errors import InvalidInput
from services.intake.domain.model import MAX_TEXT, Contact, Submission
from services.intake.domain.normalize import locate
from services.intake.domain.when import parse_when
from shared.events.cases import Attachment, Channel, Kind, Location
from shared.thai import normalize_text, to_bangkok

When = Annotated[datetime, BeforeValidator(parse_when)]

# How staff write a kind on paper; the canonical value is accepted too.
KIND_WORDS: dict[str, Kind] = {
    "ร้องเรียน": Kind.COMPLAINT,
    "ร้องทุกข์": Kind.COMPLAINT,
    "ข้อเสนอแนะ": Kind.SUGGESTION,
    "เสนอแนะ": Kind.SUGGESTION,
    "ความคิดเห็น": Kind.OPINION,
    "ความเห็น": Kind.OPINION,
    "ชมเชย": Kind.COMPLIMENT,
    "คำชม": Kind.COMPLIMENT,
    "สอบถาม": Kind.QUESTION,
    "ทุจริต": Kind.CORRUPTION_REPORT,
    "แจ้งเบาะแสทุจริต": Kind.CORRUPTION_REPORT,
}


def read_kind(value: Any) -> Any:
    if isinstance(value, str):
        word = normalize_text(value)
        if not word:
            return Kind.COMPLAINT
        return KIND_WORDS.get(word, word.lower())
    return value


KindField = Annotated[Kind, BeforeValidator(read_kind)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _needs_words(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty: a submission needs the citizen's words")
    return value


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:20]


# ---------------------------------------------------------------- telephone


class PhoneCall(_Record):
    """A call taken by staff or logged by a call-centre system, reported on the caller's behalf."""

    call_id: str | None = Field(default=None, min_length=1, max_length=200)
    caller_number: str | None = Field(default=None, max_length=40)  # None: number withheld
    caller_name: str | None = Field(default=None, max_length=200)
    officer_id: str = Field(min_length=1, max_length=64)
    call_time: When
    summary: str = Field(max_length=MAX_TEXT)
    kind: KindField = Kind.COMPLAINT
    location: Location | None = None
    service_code: str | None = Field(default=None, max_length=64)
    wants_contact: bool | None = None

    _summary = field_validator("summary")(_needs_words)

    def to_submission(self) -> Submission:
        contact = Contact(name=self.caller_name, phone=self.caller_number)
        # A call without a system id is identified by who called when: entering the
        # same record twice must not open a second case.
        call_id = self.call_id or "call-" + _digest(
            contact.phone or "withheld", self.call_time.isoformat(), self.officer_id
        )
        return Submission(
            channel=Channel.PHONE,
            kind=self.kind,
            text=self.summary,
            location=locate(self.location, self.summary),
            contact=contact,
            channel_message_id=call_id,
            received_at=self.call_time,
            service_code=self.service_code,
            links={"taken_by": self.officer_id},
            wants_contact=self.wants_contact,
        )


# ---------------------------------------------------------------- letters


class Letter(_Record):
    """A letter registered by the office (เลขทะเบียนรับ), scanned and transcribed."""

    registration_no: str = Field(min_length=1, max_length=100)
    received_date: When
    sender_name: str | None = Field(default=None, max_length=200)
    sender_address: str | None = Field(default=None, max_length=500)
    scan_ref: str | None = Field(default=None, max_length=500)
    text: str = Field(max_length=MAX_TEXT)
    kind: KindField = Kind.COMPLAINT
    service_code: str | None = Field(default=None, max_length=64)
    wants_contact: bool | None = None

    _text = field_validator("text")(_needs_words)

    def to_submission(self) -> Submission:
        attachments = (Attachment(kind="document", ref=self.scan_ref),) if self.scan_ref else ()
        return Submission(
            channel=Channel.LETTER,
            kind=self.kind,
            text=self.text,
            # The sender's house is contact data; only its village number travels.
            location=locate(None, self.text, self.sender_address),
            contact=Contact(name=self.sender_name, address=self.sender_address),
            channel_message_id=self.registration_no,
            received_at=self.received_date,
            attachments=attachments,
            service_code=self.service_code,
            wants_contact=self.wants_contact,
        )


# ---------------------------------------------------------------- suggestion boxes

MAX_SLIPS = 5_000
_BOX_COLUMNS = {
    "slip_no": "slip_no", "ลำดับ": "slip_no", "เลขที่": "slip_no", "no": "slip_no",
    "slip_id": "slip_id",
    "text": "text", "ข้อความ": "text", "เรื่อง": "text",
    "kind": "kind", "ประเภท": "kind",
    "name": "name", "ชื่อ": "name",
    "phone": "phone", "โทรศัพท์": "phone", "เบอร์โทร": "phone",
    "village_no": "village_no", "หมู่ที่": "village_no",
    "wants_contact": "wants_contact", "ให้ติดต่อกลับ": "wants_contact",
}  # fmt: skip
_YES = {"1", "true", "yes", "y", "ใช่", "ต้องการ"}


class BoxSession(_Record):
    """One opening of a suggestion box, witnessed by a committee."""

    box_id: str = Field(min_length=1, max_length=64)
    location: str = Field(min_length=1, max_length=300)
    opened_at: When
    committee: tuple[str, ...] = Field(min_length=1, max_length=20)

    @field_validator("committee", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(m.strip() for m in value.split(",") if m.strip())
        return value

    @property
    def session_id(self) -> str:
        return f"{self.box_id}@{to_bangkok(self.opened_at):%Y%m%dT%H%M}"


@dataclass(frozen=True)
class Slip:
    slip_id: str
    submission: Submission | None
    refused: str | None = None


def parse_box_csv(session: BoxSession, body: str) -> list[Slip]:
    """Every slip of the batch: a submission, or the reason it cannot be one.

    A blank or unreadable slip is refused on its own (and recorded with the session);
    a file that is not the expected CSV is refused as a whole.
    """
    reader = csv.reader(io.StringIO(body.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("body", "the CSV is empty; expected a header row", status=400) from None
    except csv.Error as exc:
        raise InvalidInput("body", f"not readable as CSV: {exc}", status=400) from exc
    columns = [_BOX_COLUMNS.get(normalize_text(h).lower()) for h in header]
    if "text" not in columns:
        raise InvalidInput("body", "the CSV needs a 'text' (ข้อความ) column", status=400)
    if "slip_no" not in columns and "slip_id" not in columns:
        raise InvalidInput(
            "body", "the CSV needs a 'slip_no' (ลำดับ) or 'slip_id' column", status=400
        )
    slips: list[Slip] = []
    seen: set[str] = set()
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InvalidInput("body", f"not readable as CSV: {exc}", status=400) from exc
    if len(rows) > MAX_SLIPS:
        raise InvalidInput("body", f"at most {MAX_SLIPS} slips per session", status=413)
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line is not a slip
        cells = {c: row[i].strip() for i, c in enumerate(columns) if c and i < len(row)}
        slip_id = cells.get("slip_id") or f"{session.session_id}/{cells.get('slip_no') or line}"
        if slip_id in seen:
            raise InvalidInput("body", f"line {line}: slip {slip_id!r} appears twice")
        seen.add(slip_id)
        slips.append(_slip(session, slip_id, cells))
    if not slips:
        raise InvalidInput("body", "the CSV has no slips", status=422)
    return slips


def _slip(session: BoxSession, slip_id: str, cells: dict[str, str]) -> Slip:
    if not cells.get("text"):
        return Slip(slip_id, None, "text: is empty: a submission needs the citizen's words")
    try:
        village = Location(village_no=int(cells["village_no"])) if cells.get("village_no") else None
        sub = Submission(
            channel=Channel.SUGGESTION_BOX,
            kind=read_kind(cells.get("kind", "")),
            text=cells["text"],
            location=locate(village, cells["text"]),
            contact=Contact(name=cells.get("name") or None, phone=cells.get("phone") or None),
            channel_message_id=slip_id,
            received_at=session.opened_at,
            links={"box_session_id": session.session_id, "box_id": session.box_id},
            wants_contact=cells.get("wants_contact", "").lower() in _YES or None,
        )
    except (ValidationError, ValueError) as exc:
        return Slip(slip_id, None, _reason(exc))
    return Slip(slip_id, sub)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'slip'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


# ---------------------------------------------------------------- activities / ประชาคม


class Opinion(_Record):
    no: int | str
    text: str = Field(max_length=MAX_TEXT)
    kind: KindField = Kind.OPINION
    village_no: int | None = Field(default=None, ge=1, le=99)

    _text = field_validator("text")(_needs_words)

    @field_validator("kind")
    @classmethod
    def _opinion_or_suggestion(cls, value: Kind) -> Kind:
        if value not in (Kind.OPINION, Kind.SUGGESTION):
            raise ValueError("an opinion from a meeting is 'opinion' or 'suggestion'")
        return value


class Meeting(_Record):
    """Minutes of an activity or public meeting (ประชาคม): attendance and what was said."""

    activity_id: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=500)
    held_at: When
    place: str | None = Field(default=None, max_length=300)
    village_no: int | None = Field(default=None, ge=1, le=99)
    attendees: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    opinions: tuple[Opinion, ...] = Field(min_length=1, max_length=1_000)

    @field_validator("opinions")
    @classmethod
    def _distinct(cls, value: tuple[Opinion, ...]) -> tuple[Opinion, ...]:
        numbers = [str(o.no) for o in value]
        if len(set(numbers)) != len(numbers):
            raise ValueError("opinion numbers ('no') must be distinct")
        return value

    def to_submissions(self) -> list[Submission]:
        subs = []
        for op in self.opinions:
            village = op.village_no or self.village_no
            subs.append(
                Submission(
                    channel=Channel.MEETING,
                    kind=op.kind,
                    text=op.text,
                    location=locate(Location(village_no=village) if village else None, op.text),
                    channel_message_id=f"{self.activity_id}/{op.no}",
                    received_at=self.held_at,
                    links={"activity_id": self.activity_id},
                )
            )
        return subs

    def record(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "held_at": self.held_at,
            "place": self.place,
            "village_no": self.village_no,
            # A list, not a dict: group names are free text and may contain '.'.
            "attendees": [{"group": g, "count": n} for g, n in self.attendees.items()],
            "attendee_total": sum(self.attendees.values()),
            "opinions": len(self.opinions),
        }
