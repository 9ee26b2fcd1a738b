"""Intake's decisions: which fiscal year a matter belongs to, its case number."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

from services.intake.domain.errors import IntakeError, InvalidInput
from services.intake.domain.model import ALLOWED_KINDS, Submission
from shared.thai import fiscal_year_be, format_case_id, normalize_text, to_bangkok

CLOCK_SKEW = timedelta(minutes=5)
# How far back a channel may say the agency received a matter. Older is a wrong date, not a
# late one: a year in two digits (69 for 2569) or converted from B.E. twice, a timestamp in
# seconds read as milliseconds (1970); its case would open years overdue, numbered in a long
# closed fiscal year. Five years still takes an import of past fiscal years' registers (the
# demo replays Traffy Fondue reports received in May 2023).
MAX_AGE = timedelta(days=5 * 365 + 2)


def check_allowed(sub: Submission, now: datetime, max_age: timedelta = MAX_AGE) -> None:
    if sub.received_at is not None and sub.received_at > now + CLOCK_SKEW:
        raise IntakeError(f"received_at {sub.received_at.isoformat()} is in the future")
    if sub.received_at is not None and sub.received_at < now - max_age:
        days = max_age.days
        raise IntakeError(
            f"received_at {sub.received_at.isoformat()} is more than {days:,} days ago"
            f" (วันที่รับเรื่องเก่ากว่า {days:,} วัน: โปรดตรวจสอบวันที่ โดยเฉพาะปี พ.ศ./ค.ศ.)"
        )
    if sub.kind not in ALLOWED_KINDS[sub.channel]:
        raise IntakeError(
            f"kind '{sub.kind.value}' cannot come through channel '{sub.channel.value}'"
        )


# What the public web form may carry. When the agency received a matter, which department
# takes it and which of its records it belongs to are the agency's word (staff, systems),
# not an anonymous caller's; a photo is one the portal kept, or a link anyone can open.
WEB_ATTACHMENT_PREFIXES = ("portal-photo:", "https://", "http://")


def check_web(sub: Submission) -> None:
    """Refuse what only staff or a system may set on an anonymous `web` submission."""
    for field in ("received_at", "department_hint"):
        if getattr(sub, field) is not None:
            raise InvalidInput(field, "is set by the agency, not by a web submission")
    if sub.links:
        raise InvalidInput("links", "are set by the agency, not by a web submission")
    for i, attachment in enumerate(sub.attachments):
        if not attachment.ref.startswith(WEB_ATTACHMENT_PREFIXES):
            raise InvalidInput(
                f"attachments.{i}.ref",
                "a web submission attaches a photo sent through the site or an http(s) link",
            )


def received_at(sub: Submission, now: datetime) -> datetime:
    """When the agency received the matter (the legal clock starts there): the channel's
    word for it, else now."""
    at = now if sub.received_at is None or sub.received_at > now else sub.received_at
    # MongoDB keeps milliseconds, in UTC: so does every answer, showing the stored value.
    return at.astimezone(UTC).replace(microsecond=at.microsecond // 1000 * 1000)


def dedup_key(sub: Submission, now: datetime) -> str:
    """The channel's message id where it gives one; else the submission's own content on
    its day in Bangkok, so a client's retry (or a replayed letter) is the same case, while
    the same words on another day are a new matter."""
    given = sub.dedup_key()
    if given is not None:
        return given
    # Without an origin the content is dumped as it was before there was one: the keys of
    # cases already received stay what they were.
    content = sub.model_dump(mode="json", exclude={"origin"} if sub.origin is None else None)
    day = None if sub.received_at is not None else f"{to_bangkok(now):%Y-%m-%d}"
    digest = hashlib.sha256(json.dumps([day, content], sort_keys=True).encode()).hexdigest()
    return f"{sub.channel.value}:content-{digest[:32]}"


def request_digest(sub: Submission) -> str:
    """The submission as sent, but for the message id that names it: a retry has the
    digest of the first attempt, another request under a reused key has another."""
    content = sub.model_dump(mode="json", exclude={"channel_message_id"})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def counter_key(org_id: str, at: datetime) -> str:
    return f"{org_id}:{fiscal_year_be(at)}"


def case_id(prefix: str, at: datetime, sequence: int) -> str:
    return format_case_id(prefix, fiscal_year_be(at), sequence)


# A message that is a case number and little else: "SPT-2569-000123", "ติดตามเรื่อง
# spt-๒๕๖๙-๑๒๓ ครับ". A report that mentions a number among other words is a report.
_ASKING = r"(?:ขอ)?(?:ติดตาม|สอบถาม|ตรวจสอบ|สถานะ|ความคืบหน้า|เรื่อง|เลขที่|เลข|ที่)*"
_POLITE = r"(?:ครับ|คับ|ค่ะ|คะ|ค่า|นะ|จ้า|จ้ะ|ด้วย|หน่อย)*"
_CASE_QUERY = re.compile(
    rf"^{_ASKING}[\s:#]*([a-z]{{2,5}})\s*-\s*(\d{{4}})\s*-\s*(\d{{1,6}})[\s.?!]*{_POLITE}[\s.?!]*$",
    re.IGNORECASE,
)


def asked_case(text: str | None, prefix: str) -> str | None:
    """The case number a message asks about, if it is no more than that (this
    organisation's prefix, any digits, any case); None otherwise."""
    if not text or len(text) > 120:
        return None
    found = _CASE_QUERY.match(normalize_text(text).replace(" ", ""))
    if found is None or found.group(1).upper() != prefix.upper():
        return None
    return format_case_id(prefix.upper(), int(found.group(2)), int(found.group(3)))


def normalized(sub: Submission) -> str:
    return normalize_text(sub.text)
