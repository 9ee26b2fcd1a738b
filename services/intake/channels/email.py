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
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Any

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
_TAG = re.compile(r"<[^>]+>")
_BLOCK = re.compile(r"<(script|style)", re.I | re.A)
_BLOCK_END = {name: re.compile(f"</{name}>", re.I | re.A) for name in ("script", "style")}
# Encoded words spend about five characters on each Thai character: a longer header
# could not fit the text limit, and decode_header slows quadratically with its words.
MAX_HEADER = 8 * MAX_TEXT
# The stdlib parser and Message.walk recurse once per level of multipart nesting.
_TOO_DEEP = "MIME parts nested too deeply"
# Semicolons in one Content-Type or Content-Disposition: real mail has a handful, a few
# dozen when a long file name is cut into RFC 2231 continuations (filename*0*=...). The
# stdlib's work on a header grows with their number times its length.
MAX_PARAMS = 100
# A file name's length as written: 255 Thai characters (what Windows allows) come to
# about 2,800 as encoded words.
MAX_NAME = 4_000


def codec(charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower()
    return _CHARSETS.get(name, name)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(codec(charset), errors="replace")
    except (LookupError, ValueError):
        # Unknown names, and codecs that are no mail charset (idna and "undefined" refuse
        # errors="replace", a name with a NUL byte is a ValueError): read as UTF-8.
        return data.decode("utf-8", errors="replace")


def _raw_header(msg: Message, name: str, errors: str = "replace") -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            # Raw 8-bit bytes (RFC 6532 allows UTF-8 in headers) come out of the parser as
            # surrogates, and msg.get would return them as a Header object instead of a str.
            return str(value).encode("utf-8", "surrogateescape").decode("utf-8", errors)
    return None


def _header(msg: Message, name: str) -> str:
    raw = _raw_header(msg, name)
    if raw is None:
        return ""
    if len(raw) > MAX_HEADER:
        raise InvalidInput(name, f"the header is over {MAX_HEADER} characters")
    try:
        chunks = decode_header(raw)
    except HeaderParseError:
        # An encoded word whose base64 is broken: the header is kept as written.
        return raw.strip()
    parts = []
    for chunk, charset in chunks:
        parts.append(_decode(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return "".join(parts).strip()


class _Part(Message):
    """A message or MIME part that counts a header's parameters before the stdlib reads them.

    The stdlib copies the rest of the header once per semicolon, and inside an unclosed
    quote recounts the quotes from its start (docs/limits.md has the cost). Refused rather
    than cut short, as an over-long header is:
    a charset or boundary past the cut would silently misread the mail.
    """

    def get_params(
        self, failobj: Any = None, header: str = "content-type", unquote: bool = True
    ) -> Any:
        _check_params(self, header)
        return super().get_params(failobj, header, unquote)

    def get_param(
        self, param: str, failobj: Any = None, header: str = "content-type", unquote: bool = True
    ) -> Any:
        _check_params(self, header)
        return super().get_param(param, failobj, header, unquote)


def _check_params(part: Message, header: str) -> None:
    value = part.get(header)
    # Semicolons, not parameters: those inside a quote cost the stdlib the most.
    if value is not None and str(value).count(";") > MAX_PARAMS:
        raise InvalidInput(header.title(), f"the header has over {MAX_PARAMS} parameters")


def _attachment_name(part: Message) -> str | None:
    try:
        filename = part.get_filename()
        if filename and len(filename) > MAX_NAME:
            # decode_header slows quadratically with its words, and of a name only the
            # suffix was wanted: one longer than any file's is read as no name.
            return "attachment"
        return str(make_header(decode_header(filename))) if filename else None
    except (LookupError, ValueError, HeaderParseError):
        # The part is named but the name does not decode; only its suffix was wanted.
        return "attachment"


def _strip_tags(markup: str) -> str:
    """Tags, and script and style blocks whole, as spaces.

    A scanner rather than one regex: the regex rescans the rest of the text from every
    "<" that has no ">" after it and from every unclosed <script>, quadratic in both.
    """
    # No tag starts after the last ">", and a block whose end tag is not found once is
    # not found from any later opening tag either.
    end_of_tags = markup.rfind(">") + 1
    unclosed: set[str] = set()
    pieces: list[str] = []
    pos = 0
    while (tag := _TAG.search(markup, pos, end_of_tags)) is not None:
        end = tag.end()
        block = _BLOCK.match(markup, tag.start())
        if block is not None and (name := block[1].lower()) not in unclosed:
            block_end = _BLOCK_END[name].search(markup, end)
            if block_end is None:
                unclosed.add(name)
            else:
                end = block_end.end()
        pieces += (markup[pos : tag.start()], " ")
        pos = end
    pieces.append(markup[pos:])
    return "".join(pieces)


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
        filename = _attachment_name(part)
        ctype = part.get_content_type()
        if filename is not None or part.get_content_disposition() == "attachment":
            name = filename if filename is not None else "attachment"
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
            html_parts.append(html.unescape(_strip_tags(text)))
    return "\n".join(plain or html_parts).strip(), attachments


def parse_email(raw: bytes) -> Submission:
    if not raw.strip():
        raise InvalidInput("body", "empty message", status=400)
    try:
        msg = email.message_from_bytes(raw, _Part)
    except RecursionError:
        raise InvalidInput("body", _TOO_DEEP, status=400) from None
    if not msg.keys():
        raise InvalidInput("body", "not an RFC 5322 message: no header fields", status=400)
    try:
        senders = getaddresses([_header(msg, "From")])
    except RecursionError:
        # The stdlib address parser recurses once per nested comment: "From: ((((...".
        raise InvalidInput("From", "the sender address does not parse") from None
    name, address = senders[0] if senders else ("", "")
    if "@" not in address:
        raise InvalidInput("From", "the message has no sender address")
    subject = _header(msg, "Subject")
    # backslashreplace, not replace: two 8-bit ids must not become one.
    message_id = (_raw_header(msg, "Message-ID", "backslashreplace") or "").strip().strip("<>")
    # Without a Message-ID, the same bytes are the same message.
    ref = (
        message_ref(message_id) if message_id else "sha256:" + hashlib.sha256(raw).hexdigest()[:32]
    )
    try:
        body, attachments = _body(msg, ref)
    except RecursionError:
        raise InvalidInput("body", _TOO_DEEP, status=400) from None
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
    except (TypeError, ValueError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else None
