"""Open311 GeoReport v2: service discovery, service requests, and their public view. Pure.

Errors follow the spec: a JSON array of {"code", "description"}. The view of a
request never carries the reporter's personal data: it is built from the redacted
projection only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from services.intake.domain.errors import IntakeError
from services.intake.domain.model import Contact, Submission
from services.intake.domain.normalize import locate
from services.intake.domain.progress import CORRUPTION_CATEGORY, CORRUPTION_TEXT, default_due
from services.intake.domain.record import SubmissionRecord, coarse
from shared.events.cases import CITIZEN_KINDS, Attachment, Channel, Kind, Location
from shared.http import VILLAGES, int_in
from shared.taxonomy import CATEGORIES, GENERAL_CODE, Category
from shared.thai import BANGKOK, format_thai_date, normalize_text, to_bangkok

MAX_DESCRIPTION = 4_000
DEFAULT_WINDOW = timedelta(days=90)
# The spec: a query's dates "may not span more than 90 days".
MAX_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1_000
MAX_ADDRESS_ID = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# attribute[code], or attribute[code][] as a multivaluelist is sent.
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_\-]+)\](\[\])?$")
# A W3C date of lower precision than a day's moment: a year, a month, a day.
_W3C_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$")
# Fields of the contact as the form names them, for a refusal that says which one.
_CONTACT_FIELDS = {"name": "first_name/last_name", "phone": "phone", "email": "email"}

KIND_NAMES_TH = {
    Kind.COMPLAINT: "ร้องเรียน/แจ้งปัญหา",
    Kind.SUGGESTION: "ข้อเสนอแนะ",
    Kind.OPINION: "ความคิดเห็น",
    Kind.COMPLIMENT: "คำชมเชย",
    Kind.QUESTION: "สอบถาม",
    Kind.CORRUPTION_REPORT: "แจ้งเบาะแสการทุจริต",
}


class Open311Error(IntakeError):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.status, "description": self.description}]


# ---------------------------------------------------------------- discovery


def service_list() -> list[dict[str, Any]]:
    return [
        {
            "service_code": c.code,
            "service_name": c.label_th,
            "description": c.description_th,
            "metadata": True,
            "type": "realtime",
            "keywords": ",".join(c.keywords),
            "group": c.group,
        }
        for c in CATEGORIES
    ]


def category(code: str) -> Category | None:
    return next((c for c in CATEGORIES if c.code == code), None)


def _attributes() -> list[dict[str, Any]]:
    return [
        {
            "variable": True,
            "code": "kind",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "ประเภทของเรื่อง (ไม่ระบุ = ร้องเรียน/แจ้งปัญหา)",
            "order": 1,
            "description": "ประเภทของเรื่อง",
            "values": [{"key": k.value, "name": KIND_NAMES_TH[k]} for k in CITIZEN_KINDS],
        },
        {
            "variable": True,
            "code": "village_no",
            "datatype": "number",
            "required": False,
            "datatype_description": "หมู่ที่ 1-99",
            "order": 2,
            "description": "หมู่ที่ของจุดเกิดเหตุ",
        },
        {
            "variable": True,
            "code": "wants_contact",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "แจ้งเบาะแสทุจริตจะไม่เก็บข้อมูลติดต่อ เว้นแต่ขอให้ติดต่อกลับ",
            "order": 3,
            "description": "ต้องการให้ติดต่อกลับหรือไม่",
            "values": [{"key": "true", "name": "ต้องการ"}, {"key": "false", "name": "ไม่ต้องการ"}],
        },
    ]


def service_definition(code: str) -> dict[str, Any]:
    if category(code) is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    return {"service_code": code, "attributes": _attributes()}


# ---------------------------------------------------------------- POST requests


@dataclass(frozen=True)
class ServiceRequest:
    submission: Submission
    account_id: str | None


def _float(form: Mapping[str, str], name: str, low: float, high: float) -> float:
    try:
        value = float(form[name])
    except ValueError:
        raise Open311Error(400, f"{name} must be a number") from None
    if not low <= value <= high:
        raise Open311Error(400, f"{name} must be between {low} and {high}")
    return value


def _digest(*parts: str | None) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def scoped_message_id(api_key: str, key: str | None) -> str | None:
    """An Idempotency-Key as the message id of one client: two clients that happen to pick
    the same key send two matters, and a key of any length makes an id of bounded length."""
    key = (key or "").strip()
    if not key:
        return None
    return f"idem-{_digest(api_key)[:16]}-{_digest(key)[:32]}"


def parse_request(
    fields: Sequence[tuple[str, str]],
    *,
    api_keys: frozenset[str],
    message_id: str | None,
) -> ServiceRequest:
    """A POST requests.json form (already URL-decoded) as a submission, or the spec's error.

    `message_id`: the client's Idempotency-Key (or the raw payload's message id), scoped
    here to the api_key that sent it."""
    form: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for key, value in fields:
        match = _ATTRIBUTE.match(key)
        if match:
            attributes.setdefault(match.group(1), []).append(value)
        else:
            form[key] = value
    api_key = form.get("api_key", "")
    if not api_key or api_key not in api_keys:
        raise Open311Error(403, "api_key is missing or not valid")
    code = form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    if category(code) is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    location, address_id = _location(form)
    description = form.get("description", "")
    # A line break sent as CRLF is one character, as the person typed it.
    if len(description.replace("\r\n", "\n")) > MAX_DESCRIPTION:
        raise Open311Error(
            400,
            f"description is over {MAX_DESCRIPTION:,} characters"
            f" (รายละเอียดยาวเกิน {MAX_DESCRIPTION:,} ตัวอักษร)",
        )
    media_url = form.get("media_url", "").strip() or None
    if media_url and not media_url.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    if not normalize_text(description) and not media_url:
        raise Open311Error(400, "description is required (or a media_url showing the problem)")
    email = form.get("email", "").strip() or None
    if email and not _EMAIL.match(email):
        raise Open311Error(400, "email is not a valid address")
    kind, village, wants = _read_attributes(attributes)
    if code == CORRUPTION_CATEGORY:
        # Filed under corruption, it is a corruption report whatever kind it was sent as:
        # its whistle-blower gets the same protection (no text, place, media or contact).
        kind = Kind.CORRUPTION_REPORT
    # Not a POST argument of the spec: an extension for forwarders (e.g. reports imported
    # from Traffy Fondue) that received the matter earlier than they send it.
    received_at = (
        _w3c("requested_datetime", form["requested_datetime"])
        if form.get("requested_datetime")
        else None
    )
    chosen = category(code)
    assert chosen is not None
    text = description if normalize_text(description) else chosen.label_th
    name = " ".join(p for p in (form.get("first_name", ""), form.get("last_name", "")) if p.strip())
    try:
        contact = Contact(name=name.strip() or None, phone=form.get("phone") or None, email=email)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _CONTACT_FIELDS.get(str(err["loc"][0]) if err["loc"] else "", "contact")
        raise Open311Error(400, f"{field}: {err['msg']}") from None
    if village is not None:
        location = (location or Location()).model_copy(update={"village_no": village})
    try:
        sub = Submission(
            channel=Channel.OPEN311,
            kind=kind,
            text=text,
            location=locate(location, text),
            contact=contact,
            channel_message_id=scoped_message_id(api_key, message_id),
            received_at=received_at,
            attachments=(Attachment(kind="link", ref=media_url),) if media_url else (),
            service_code=None if code == GENERAL_CODE else code,
            links={"address_id": address_id} if address_id else {},
            wants_contact=wants,
            # Who sent it, as a digest only: the same words from two accounts or devices
            # are two matters, while a client's retry is still the same one.
            origin=_digest(api_key, form.get("account_id"), form.get("device_id")),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Open311Error(400, f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from exc
    return ServiceRequest(sub, form.get("account_id") or None)


def _location(form: Mapping[str, str]) -> tuple[Location | None, str | None]:
    has_lat, has_long = bool(form.get("lat", "").strip()), bool(form.get("long", "").strip())
    if has_lat != has_long:
        raise Open311Error(400, "lat and long must be given together")
    address = form.get("address_string", "").strip() or None
    address_id = form.get("address_id", "").strip() or None
    if not has_lat and not address and not address_id:
        raise Open311Error(
            400, "a location is required: lat and long, address_string or address_id"
        )
    if address_id is not None and len(address_id) > MAX_ADDRESS_ID:
        raise Open311Error(400, f"address_id is over {MAX_ADDRESS_ID} characters")
    if has_lat:
        location = Location(
            lat=_float(form, "lat", -90, 90), lon=_float(form, "long", -180, 180), address=address
        )
        return location, address_id
    return (Location(address=address) if address else None), address_id


def _one(attributes: Mapping[str, list[str]], code: str) -> str:
    values = [v for v in attributes.get(code, []) if v.strip()]
    if len(values) > 1:
        raise Open311Error(400, f"attribute[{code}] takes one value, not {len(values)}")
    return values[0].strip() if values else ""


def _read_attributes(
    attributes: Mapping[str, list[str]],
) -> tuple[Kind, int | None, bool | None]:
    known = {"kind", "village_no", "wants_contact"}
    unknown = sorted(set(attributes) - known)
    if unknown:
        raise Open311Error(400, f"unknown attribute(s): {', '.join(unknown)}")
    kind = Kind.COMPLAINT
    if raw_kind := _one(attributes, "kind"):
        try:
            kind = Kind(raw_kind)
        except ValueError:
            raise Open311Error(
                400, f"attribute[kind] must be one of {', '.join(k.value for k in CITIZEN_KINDS)}"
            ) from None
        if kind not in CITIZEN_KINDS:
            raise Open311Error(400, f"attribute[kind] {kind.value!r} is not for citizens")
    village = None
    if raw_village := _one(attributes, "village_no"):
        village = int_in(raw_village, *VILLAGES)
        if village is None:
            lo, hi = VILLAGES
            raise Open311Error(400, f"attribute[village_no] must be a number from {lo} to {hi}")
    wants = None
    if raw_wants := _one(attributes, "wants_contact"):
        if raw_wants not in ("true", "false"):
            raise Open311Error(400, "attribute[wants_contact] must be 'true' or 'false'")
        wants = raw_wants == "true"
    return kind, village, wants


# Said to a client that uploaded a file: the report is filed, its picture is not kept.
FILES_NOT_KEPT = " (ไม่ได้เก็บไฟล์ที่แนบมา: ส่งรูปเป็นลิงก์ใน media_url)"


def service_notice(received_at: datetime, due: datetime | None = None) -> str:
    """The promise made on receipt: the response deadline, once routing has set it."""
    if due is None:
        due = default_due(received_at)
        return f"ได้รับเรื่องแล้ว จะแจ้งผลภายใน 15 วัน (ภายในวันที่ {format_thai_date(due)})"
    return f"ได้รับเรื่องแล้ว จะแจ้งผลภายในวันที่ {format_thai_date(due)}"


# ---------------------------------------------------------------- GET requests


@dataclass(frozen=True)
class RequestQuery:
    case_ids: tuple[str, ...] = ()
    service_codes: frozenset[str] = frozenset()  # empty = every service
    start: datetime | None = None
    end: datetime | None = None
    status: frozenset[str] = frozenset()  # "open", "closed"; empty = both
    limit: int = MAX_REQUESTS


def _date_only(name: str, found: re.Match[str], *, end: bool) -> datetime:
    """A W3C year, month or day as the moment in Bangkok it starts, or for `end` the last
    moment (to the millisecond the store keeps) before the next one starts."""
    year, month, day = int(found[1]), int(found[2] or 1), int(found[3] or 1)
    try:
        first = datetime(year, month, day, tzinfo=BANGKOK)
        if not end:
            return first
        if found[3]:
            after = first + timedelta(days=1)
        elif found[2]:
            after = first.replace(year=year + month // 12, month=month % 12 + 1)
        else:
            after = first.replace(year=year + 1)
        return after - timedelta(milliseconds=1)
    except (ValueError, OverflowError):
        raise Open311Error(400, f"{name} is not a date that exists") from None


def _w3c(name: str, value: str, *, end: bool = False) -> datetime:
    text = value.strip().replace(" ", "+")  # a '+' offset arrives as ' ' when not escaped
    if found := _W3C_DATE.match(text):
        return _date_only(name, found, end=end)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, f"{name} must be a W3C date-time, e.g. 2026-05-16T08:00:00+07:00"
        ) from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+07:00 is before the first UTC moment
        raise Open311Error(400, f"{name} is out of range") from None


def _values(params: Iterable[tuple[str, str]], name: str) -> list[str]:
    """Every value of a parameter the spec lets a client declare more than once, each
    comma delimited."""
    return [v.strip() for k, raw in params if k == name for v in raw.split(",") if v.strip()]


def parse_query(params: Iterable[tuple[str, str]], now: datetime) -> RequestQuery:
    """GET requests.json's parameters (every pair, repeated ones included)."""
    params = list(params)
    ids = tuple(dict.fromkeys(_values(params, "service_request_id")))
    if ids:
        # Asking by id ignores the other filters, as the spec says.
        return RequestQuery(case_ids=ids[:MAX_REQUESTS])
    codes = frozenset(_values(params, "service_code"))
    for code in sorted(codes):
        if category(code) is None:
            raise Open311Error(400, f"service_code {code!r} is not a known service")
    given = dict(params)
    start = _w3c("start_date", given["start_date"]) if given.get("start_date") else None
    end = _w3c("end_date", given["end_date"], end=True) if given.get("end_date") else None
    try:
        if start is None and end is None:
            end = now
            start = now - DEFAULT_WINDOW
        elif start is None:
            assert end is not None
            start = end - DEFAULT_WINDOW
        elif end is None:
            end = start + DEFAULT_WINDOW
    except OverflowError:
        raise Open311Error(400, "start_date or end_date is out of range") from None
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > MAX_WINDOW:
        raise Open311Error(400, f"start_date to end_date spans more than {MAX_WINDOW.days} days")
    statuses = frozenset(_values(params, "status"))
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status must be 'open', 'closed' or both, comma-separated")
    return RequestQuery(service_codes=codes, start=start, end=end, status=statuses)


def _time(value: datetime | None) -> str | None:
    return to_bangkok(value).isoformat(timespec="seconds") if value else None


def request_view(record: SubmissionRecord, agencies: Mapping[str, str]) -> dict[str, Any]:
    """One service request as GeoReport v2 shows it: from the redacted projection only,
    and never more than `public.cases` publishes of it."""
    progress, public = record.progress, record.public
    code = record.effective_service_code
    cat = category(code) or category(GENERAL_CODE)
    received = record.received_at
    # A complaint routing found to be corruption is protected from then on, like a report
    # filed as one: what was shown before it was found is not shown any more.
    hidden = record.is_corruption
    return {
        "service_request_id": record.case_id,
        "status": "open" if progress.is_open else "closed",
        # The notes of a closed matter say what was done; an open one's are the officer's.
        "status_notes": None if hidden or progress.is_open else progress.status_notes,
        "service_name": cat.label_th if cat else code,
        "service_code": code,
        "description": CORRUPTION_TEXT if hidden else public.text[:MAX_DESCRIPTION],
        "agency_responsible": agencies.get(progress.department or "", progress.department),
        "service_notice": service_notice(received, progress.respond_due_at),
        "requested_datetime": _time(received),
        "updated_datetime": _time(progress.updated_at or received),
        "expected_datetime": _time(progress.respond_due_at or default_due(received)),
        "address": None if hidden else public.address,
        "address_id": None if hidden else public.address_id,
        "zipcode": None,
        "lat": None if hidden else coarse(public.lat),
        "long": None if hidden else coarse(public.lon),
        "media_url": None if hidden else public.media_url,
    }
