"""Email: a raw RFC 5322 message, read with the standard library. Pure.

Thai mail still arrives as TIS-620 / windows-874, which Python knows as tis-620 and
cp874 but not under every name mail clients use, so charsets are mapped first.
"""

from __future__ import annotations

import email
import hashlib
import html
import re
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import PurePosixPath

from services.intake.channels.forms import KIND_WORDS
from services.intake.domain.errors import InvalidInput
from services.intake.domain.model import MAX_TEXT, Contact, Submission
from services.intake.domain.normalize import locate
from shared.events.cases import Attachment, Channel, Kind

_CHARSETS = {
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "ms874": "cp874",
    "tis620": "tis-620",
    "tis-620": "tis-620",
    "iso-8859-11": "iso8859_11",
    "x-user-defined": "cp874",
}
_TAGS = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.S | re.I)


def codec(charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower()
    return _CHARSETS.get(name, name)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(codec(charset), errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _header(msg: Message, name: str) -> str:
    raw = msg.get(name)
    if raw is None:
        return ""
    parts = []
    for chunk, charset in decode_header(str(raw)):
        parts.append(_decode(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return "".join(parts).strip()


def message_ref(message_id: str) -> str:
    """The id the case knows a mail by. A Message-ID is an address (`<local@host>`), often
    made from the sender's own, and it travels on Kafka with the case: it is hashed, which
    keeps one mail one case without saying whose it was."""
    return "mid-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32]


def _body(msg: Message, ref: str) -> tuple[str, list[Attachment]]:
    plain: list[str] = []
    html_parts: list[str] = []
    attachments: list[Attachment] = []
    for n, part in enumerate(msg.walk() if msg.is_multipart() else [msg]):
        if part.is_multipart():
            continue
        filename = part.get_filename()
        ctype = part.get_content_type()
        if filename or part.get_content_disposition() == "attachment":
            name = str(make_header(decode_header(filename))) if filename else "attachment"
            # The bytes belong to the mail store; the case keeps a reference: the part's
            # number and type, not its file name ("บัตรประชาชน นายสมชาย.jpg").
            suffix = PurePosixPath(name).suffix.lower()[:10]
            part_ref = f"email:{ref}/part-{n}{suffix}"
            attachments.append(
                Attachment(kind="image", ref=part_ref)
                if ctype.startswith("image/")
                else Attachment(kind="document", ref=part_ref)
            )
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = _decode(payload, part.get_content_charset())
        if ctype == "text/plain":
            plain.append(text)
        elif ctype == "text/html":
            html_parts.append(html.unescape(_TAGS.sub(" ", text)))
    return "\n".join(plain or html_parts).strip(), attachments


def parse_email(raw: bytes) -> Submission:
    if not raw.strip():
        raise InvalidInput("body", "empty message", status=400)
    msg = email.message_from_bytes(raw)
    if not msg.keys():
        raise InvalidInput("body", "not an RFC 5322 message: no header fields", status=400)
    senders = getaddresses([_header(msg, "From")])
    name, address = senders[0] if senders else ("", "")
    if "@" not in address:
        raise InvalidInput("From", "the message has no sender address")
    subject = _header(msg, "Subject")
    message_id = (msg.get("Message-ID") or "").strip().strip("<>")
    # Without a Message-ID, the same bytes are the same message.
    ref = (
        message_ref(message_id) if message_id else "sha256:" + hashlib.sha256(raw).hexdigest()[:32]
    )
    body, attachments = _body(msg, ref)
    text = "\n".join(t for t in (subject, body) if t)
    if not text.strip():
        raise InvalidInput("body", "the message has neither subject nor text")
    if len(text) > MAX_TEXT:
        raise InvalidInput("body", f"the text is over {MAX_TEXT} characters")
    return Submission(
        channel=Channel.EMAIL,
        kind=_kind(subject),
        text=text,
        location=locate(None, text),
        contact=Contact(name=name or None, email=address),
        channel_message_id=ref,
        received_at=_date(msg),
        attachments=tuple(attachments),
    )


def _kind(subject: str) -> Kind:
    for word, kind in KIND_WORDS.items():
        if word in subject:
            return kind
    return Kind.COMPLAINT


def _date(msg: Message) -> datetime | None:
    raw = msg.get("Date")
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None
