"""Open311 GeoReport v2: service discovery, service requests, and their public view. Pure.

Errors follow the spec: a JSON array of {"code", "description"}. The view of a
request never carries the reporter's personal data: it is built from the redacted
projection only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from services.intake.domain.errors import IntakeError
from services.intake.domain.model import Contact, Submission
from services.intake.domain.normalize import locate
from services.intake.domain.progress import default_due
from services.intake.domain.record import SubmissionRecord
from shared.events.cases import CITIZEN_KINDS, Attachment, Channel, Kind, Location
from shared.taxonomy import CATEGORIES, GENERAL_CODE, Category
from shared.thai import format_thai_date, normalize_text, to_bangkok

MAX_DESCRIPTION = 4_000
DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_\-]+)\]$")

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


def parse_request(
    fields: Sequence[tuple[str, str]],
    *,
    api_keys: frozenset[str],
    message_id: str | None,
) -> ServiceRequest:
    """A POST requests.json form (already URL-decoded) as a submission, or the spec's error."""
    form: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for key, value in fields:
        match = _ATTRIBUTE.match(key)
        if match:
            attributes[match.group(1)] = value
        else:
            form[key] = value
    if not form.get("api_key") or form["api_key"] not in api_keys:
        raise Open311Error(403, "api_key is missing or not valid")
    code = form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    if category(code) is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    location = _location(form)
    description = form.get("description", "")
    if len(description) > MAX_DESCRIPTION:
        # 422 as on every channel that carries text (the spec's error body all the same):
        # the form is well formed, the text is more than a matter needs.
        raise Open311Error(
            422,
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
    except ValidationError:
        raise Open311Error(400, "phone is not a valid phone number") from None
    if village is not None:
        location = (location or Location()).model_copy(update={"village_no": village})
    try:
        sub = Submission(
            channel=Channel.OPEN311,
            kind=kind,
            text=text,
            location=locate(location, text),
            contact=contact,
            channel_message_id=message_id,
            received_at=received_at,
            attachments=(Attachment(kind="link", ref=media_url),) if media_url else (),
            service_code=None if code == GENERAL_CODE else code,
            wants_contact=wants,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Open311Error(400, f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from exc
    return ServiceRequest(sub, form.get("account_id") or None)


def _location(form: Mapping[str, str]) -> Location | None:
    has_lat, has_long = bool(form.get("lat", "").strip()), bool(form.get("long", "").strip())
    if has_lat != has_long:
        raise Open311Error(400, "lat and long must be given together")
    address = form.get("address_string", "").strip() or None
    address_id = form.get("address_id", "").strip() or None
    if not has_lat and not address and not address_id:
        raise Open311Error(
            400, "a location is required: lat and long, address_string or address_id"
        )
    if address is None and address_id is not None:
        address = f"address_id:{address_id}"
    if has_lat:
        return Location(
            lat=_float(form, "lat", -90, 90), lon=_float(form, "long", -180, 180), address=address
        )
    return Location(address=address)


def _read_attributes(attributes: Mapping[str, str]) -> tuple[Kind, int | None, bool | None]:
    known = {"kind", "village_no", "wants_contact"}
    unknown = sorted(set(attributes) - known)
    if unknown:
        raise Open311Error(400, f"unknown attribute(s): {', '.join(unknown)}")
    kind = Kind.COMPLAINT
    if attributes.get("kind"):
        try:
            kind = Kind(attributes["kind"])
        except ValueError:
            raise Open311Error(
                400, f"attribute[kind] must be one of {', '.join(k.value for k in CITIZEN_KINDS)}"
            ) from None
        if kind not in CITIZEN_KINDS:
            raise Open311Error(400, f"attribute[kind] {kind.value!r} is not for citizens")
    village = None
    if attributes.get("village_no"):
        raw = attributes["village_no"].strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 99:
            raise Open311Error(400, "attribute[village_no] must be a number from 1 to 99")
        village = int(raw)
    wants = None
    if attributes.get("wants_contact"):
        if attributes["wants_contact"] not in ("true", "false"):
            raise Open311Error(400, "attribute[wants_contact] must be 'true' or 'false'")
        wants = attributes["wants_contact"] == "true"
    return kind, village, wants


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
    service_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: frozenset[str] = frozenset()  # "open", "closed"; empty = both
    limit: int = MAX_REQUESTS


def _w3c(name: str, value: str) -> datetime:
    text = value.strip().replace(" ", "+")  # a '+' offset arrives as ' ' when not escaped
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
    return moment


def parse_query(params: Mapping[str, str], now: datetime) -> RequestQuery:
    ids = tuple(i.strip() for i in params.get("service_request_id", "").split(",") if i.strip())
    if ids:
        # Asking by id ignores the other filters, as the spec says.
        return RequestQuery(case_ids=ids[:MAX_REQUESTS])
    code = params.get("service_code", "").strip() or None
    if code is not None and category(code) is None:
        raise Open311Error(400, f"service_code {code!r} is not a known service")
    start = _w3c("start_date", params["start_date"]) if params.get("start_date") else None
    end = _w3c("end_date", params["end_date"]) if params.get("end_date") else None
    if start is None and end is None:
        end = now
        start = now - DEFAULT_WINDOW
    elif start is None:
        assert end is not None
        start = end - DEFAULT_WINDOW
    elif end is None:
        end = start + DEFAULT_WINDOW
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    statuses = frozenset(s.strip() for s in params.get("status", "").split(",") if s.strip())
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status must be 'open', 'closed' or both, comma-separated")
    return RequestQuery(service_code=code, start=start, end=end, status=statuses)


def _time(value: datetime | None) -> str | None:
    return to_bangkok(value).isoformat(timespec="seconds") if value else None


def request_view(record: SubmissionRecord, agencies: Mapping[str, str]) -> dict[str, Any]:
    """One service request as GeoReport v2 shows it: from the redacted projection only."""
    progress, public = record.progress, record.public
    code = record.effective_service_code
    cat = category(code) or category(GENERAL_CODE)
    received = record.received_at
    return {
        "service_request_id": record.case_id,
        "status": "open" if progress.is_open else "closed",
        "status_notes": progress.status_notes,
        "service_name": cat.label_th if cat else code,
        "service_code": code,
        "description": public.text,
        "agency_responsible": agencies.get(progress.department or "", progress.department),
        "service_notice": service_notice(received, progress.respond_due_at),
        "requested_datetime": _time(received),
        "updated_datetime": _time(progress.updated_at or received),
        "expected_datetime": _time(progress.respond_due_at or default_due(received)),
        "address": public.address,
        "address_id": None,
        "zipcode": None,
        "lat": public.lat,
        "long": public.lon,
        "media_url": public.media_url,
    }
