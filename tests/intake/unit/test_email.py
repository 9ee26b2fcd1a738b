"""Email: raw RFC 5322 messages in UTF-8, TIS-620 and windows-874, parsed with the stdlib."""

from __future__ import annotations

import base64
import email.message
import re
from collections.abc import Callable
from email.header import decode_header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.intake.channels import email as email_channel
from services.intake.channels.email import (
    MAX_NAME,
    MAX_PARAMS,
    _strip_tags,
    message_ref,
    parse_email,
)
from services.intake.domain.errors import InvalidInput
from shared.events.cases import Channel, Kind


def _b64word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def tis620_message(
    charset: str = "TIS-620", message_id: str = "<letter-1@mail.example.th>"
) -> bytes:
    codec = {"TIS-620": "tis-620", "windows-874": "cp874"}[charset]
    head = (
        f"From: {_b64word('สมหญิง รักดี', 'utf-8')} <somying@example.co.th>\r\n"
        f"To: saraban@sraphonthong.go.th\r\n"
        f"Subject: {_b64word('ร้องเรียน ขยะไม่มีคนเก็บ', codec)}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Sat, 16 May 2026 08:15:00 +0700\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    body = "ขยะหน้าตลาด หมู่ที่ ๖ ไม่มีคนมาเก็บหนึ่งสัปดาห์แล้ว\r\n"
    return head.encode("ascii") + body.encode(codec)


@pytest.mark.parametrize("charset", ["TIS-620", "windows-874"])
def test_thai_legacy_charsets_are_read(charset: str) -> None:
    sub = parse_email(tis620_message(charset))
    assert sub.channel is Channel.EMAIL
    assert sub.kind is Kind.COMPLAINT
    assert sub.text.startswith("ร้องเรียน ขยะไม่มีคนเก็บ\nขยะหน้าตลาด หมู่ที่ ๖")
    assert sub.location is not None and sub.location.village_no == 6
    assert sub.contact is not None and sub.contact.email == "somying@example.co.th"
    assert sub.contact.name == "สมหญิง รักดี"
    # The Message-ID, hashed: one mail is one case, and no address travels with it.
    assert sub.channel_message_id == message_ref("letter-1@mail.example.th")
    assert "@" not in sub.channel_message_id
    assert sub.received_at is not None and sub.received_at.utcoffset() is not None


def test_utf8_multipart_with_attachment_keeps_a_reference_not_bytes() -> None:
    msg = MIMEMultipart()
    msg["From"] = "Somchai <somchai@example.com>"
    msg["Subject"] = "ข้อเสนอแนะ เรื่องไฟทาง"
    msg["Message-ID"] = "<m2@example.com>"
    msg.attach(MIMEText("อยากให้ติดไฟทางเพิ่ม ม.2", "plain", "utf-8"))
    photo = MIMEApplication(b"\x89PNG...", "png", Name="ไฟทาง นายสมชาย.PNG")
    photo.replace_header("Content-Type", "image/png")
    photo.add_header(
        "Content-Disposition", "attachment", filename=("utf-8", "", "ไฟทาง นายสมชาย.PNG")
    )
    msg.attach(photo)
    sub = parse_email(msg.as_bytes())
    assert sub.kind is Kind.SUGGESTION
    assert "อยากให้ติดไฟทางเพิ่ม" in sub.text
    assert [(a.kind, a.ref) for a in sub.attachments] == [
        ("image", f"email:{message_ref('m2@example.com')}/part-2.png")
    ]


def test_html_only_mail_is_read_as_text() -> None:
    msg = MIMEText("<p>ถนน<b>พัง</b> &amp; น้ำขัง</p>", "html", "utf-8")
    msg["From"] = "a@example.com"
    msg["Message-ID"] = "<h@x>"
    assert (
        "พัง" in parse_email(msg.as_bytes()).text and "&amp;" not in parse_email(msg.as_bytes()).text
    )


def test_same_bytes_without_message_id_get_the_same_id() -> None:
    raw = "From: a@example.com\r\nSubject: test\r\n\r\nน้ำท่วม".encode()
    assert parse_email(raw).channel_message_id == parse_email(raw).channel_message_id


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"", "body"),
        (b"just some words without headers", "body"),
        (b"Subject: x\r\n\r\nhello", "From"),
        (b"From: a@example.com\r\n\r\n   ", "body"),
    ],
)
def test_malformed_mail_is_refused_naming_the_problem(raw: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_email(raw)
    assert err.value.field == field


def _mail(head: bytes, body: bytes = b"body") -> bytes:
    return b"From: a@example.com\r\n" + head + b"\r\n\r\n" + body


def _with_attachment(disposition: bytes) -> bytes:
    return _mail(
        b"Content-Type: multipart/mixed; boundary=X",
        b"--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--X\r\nContent-Type: application/pdf\r\nContent-Disposition: "
        + disposition
        + b"\r\n\r\nPDF\r\n--X--\r\n",
    )


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        # Codecs Python has that are no mail charset, or that refuse errors="replace".
        (_mail(b"Content-Type: text/plain; charset=idna"), "body"),
        (_mail(b"Content-Type: text/plain; charset=undefined"), "body"),
        (_mail(b'Content-Type: text/plain; charset="a\x00b"'), "body"),
        (_mail(b"Subject: =?idna?q?abc?="), "abc\nbody"),
        (_mail(b"Subject: =?a\x00b?q?abc?="), "abc\nbody"),
        # Broken base64 in an encoded word: the header as written.
        (_mail(b"Subject: =?utf-8?b?a?="), "=?utf-8?b?a?=\nbody"),
        # Raw 8-bit header text, read as UTF-8 (RFC 6532), what is not UTF-8 replaced.
        (_mail(b"Subject: \xe0\xb8\x96\xe0\xb8\x99\xe0\xb8\x99 \xff"), "ถนน \ufffd\nbody"),
    ],
    ids=["idna", "undefined", "nul-charset", "idna-word", "nul-word", "bad-base64", "8bit"],
)
def test_headers_and_charsets_that_do_not_decode_are_read_tolerantly(raw: bytes, text: str) -> None:
    assert parse_email(raw).text == text


def test_a_raw_8bit_message_id_is_an_id_and_two_of_them_stay_two() -> None:
    thai = parse_email(_mail("Message-ID: <ก@example.th>".encode()))
    assert thai.channel_message_id == message_ref("ก@example.th")
    one = parse_email(_mail(b"Message-ID: <\xff\xfe@x>"))
    other = parse_email(_mail(b"Message-ID: <\xfe\xff@x>"))
    assert one.channel_message_id != other.channel_message_id


def test_a_raw_8bit_sender_name_is_read_as_utf8() -> None:
    raw = b"From: \xe0\xb8\xaa\xe0\xb8\xa1 <som@example.th>\r\nSubject: s\r\n\r\nbody"
    sub = parse_email(raw)
    assert sub.contact is not None and sub.contact.name == "สม"


@pytest.mark.parametrize(
    "disposition",
    [
        b'attachment; filename="=?x-nope?q?abc?="',
        b"attachment; filename*=idna''abc.pdf",
        b"attachment; filename*=a%00''abc.pdf",
    ],
)
def test_an_attachment_name_that_does_not_decode_is_still_an_attachment(
    disposition: bytes,
) -> None:
    sub = parse_email(_with_attachment(disposition))
    assert sub.text == "hi"
    # No suffix: the name it would come from is unknown.
    assert [(a.kind, a.ref.rsplit("/", 1)[1]) for a in sub.attachments] == [("document", "part-2")]


def test_a_date_out_of_range_is_no_date() -> None:
    raw = _mail(b"Date: Sat, 16 May 99999999999999999999 08:15:00 +0700")
    assert parse_email(raw).received_at is None


def _nested(depth: int) -> bytes:
    levels = b"".join(
        b"Content-Type: multipart/mixed; boundary=X%d\r\n\r\n--X%d\r\n" % (i, i)
        for i in range(depth)
    )
    return b"From: a@example.com\r\n" + levels + b"\r\nhi"


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b"From: " + b"(" * 5000 + b"a@example.com\r\n\r\nbody", "From", "does not parse"),
        (_mail(b"Subject: " + b"=?utf-8?q?a?= " * 10_000), "Subject", "the header is over"),
        (_nested(2000), "body", "nested too deeply"),
    ],
    ids=["nested-comments", "long-subject", "nested-parts"],
)
def test_mail_the_stdlib_cannot_take_is_refused_naming_the_header(
    raw: bytes, field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_email(raw)
    assert err.value.field == field and reason in err.value.reason


def _multipart(part_head: bytes, body: bytes = "ขยะล้นถัง".encode()) -> bytes:
    return _mail(
        b"Content-Type: multipart/mixed; boundary=X",
        b"--X\r\n" + part_head + b"\r\n\r\n" + body + b"\r\n--X--\r\n",
    )


def _params_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The semicolons in each header the stdlib is given to split into parameters."""
    seen: list[int] = []
    split: Callable[[str], list[str]] = email.message._parseparam  # type: ignore[attr-defined]

    def spy(value: str) -> list[str]:
        seen.append(str(value).count(";"))
        # The old parser took seconds over such a header: fail at once instead.
        assert seen[-1] <= MAX_PARAMS, f"the stdlib was given {seen[-1]} semicolons"
        return split(value)

    monkeypatch.setattr(email.message, "_parseparam", spy)
    return seen


# Sizes within the 1 MB the route accepts, each seconds (the unclosed quote minutes, at a
# few times the size) in the stdlib's parameter parser.
@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (_mail(b"Content-Type: text/plain" + b"; a=1" * 100_000), "Content-Type"),
        (_mail(b'Content-Type: text/plain; name="' + b";" * 50_000), "Content-Type"),
        (
            _mail(b"Content-Type: multipart/mixed; boundary=X" + b"; a=1" * 100_000, b"--X--"),
            "Content-Type",
        ),
        (_multipart(b"Content-Type: text/plain" + b"; a=1" * 100_000), "Content-Type"),
        (_with_attachment(b"attachment" + b"; a=1" * 100_000), "Content-Disposition"),
        (
            _with_attachment(
                b"attachment" + b"".join(b"; filename*%d=a" % i for i in range(50_000))
            ),
            "Content-Disposition",
        ),
    ],
    ids=["params", "unclosed-quote", "boundary", "part", "disposition", "continuations"],
)
def test_a_header_with_more_parameters_than_mail_has_is_refused_before_the_stdlib_reads_it(
    raw: bytes, field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _params_seen(monkeypatch)
    with pytest.raises(InvalidInput) as err:
        parse_email(raw)
    assert err.value.status == 422 and err.value.field == field
    assert err.value.reason == f"the header has over {MAX_PARAMS} parameters"
    assert all(n <= MAX_PARAMS for n in seen)


def _rfc2231_name(name: str, size: int) -> bytes:
    encoded = "utf-8''" + quote(name)
    pieces = [encoded[i : i + size] for i in range(0, len(encoded), size)]
    return "".join(f"; filename*{n}*={piece}" for n, piece in enumerate(pieces)).encode()


def _encoded_words(text: str, chars: int) -> str:
    words = []
    for i in range(0, len(text), chars):
        octets = text[i : i + chars].encode()
        words.append("=?utf-8?q?" + "".join(f"={o:02X}" for o in octets) + "?=")
    return " ".join(words)


# The longest file name Windows allows, in Thai: 255 characters.
LONG_NAME = ("คำร้องเรื่องน้ำประปาไม่ไหล หมู่ที่ ๖ " * 8)[:251] + ".pdf"


def test_headers_with_as_many_parameters_as_real_mail_has_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _params_seen(monkeypatch)
    flowed = _multipart(b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes")
    assert parse_email(flowed).text == "ขยะล้นถัง"
    # A charset after as many semicolons as are allowed is still read.
    at_limit = _multipart(
        b"Content-Type: text/plain" + b"; a=1" * (MAX_PARAMS - 1) + b"; charset=utf-8"
    )
    assert parse_email(at_limit).text == "ขยะล้นถัง"
    # As Thunderbird cuts a long name: segments of a few dozen characters.
    continued = _with_attachment(
        b"attachment" + _rfc2231_name(LONG_NAME, 40) + b"; size=3; creation-date=x"
    )
    assert continued.count(b"; filename*") > 50
    sub = parse_email(continued)
    assert [(a.kind, a.ref.rsplit("/", 1)[1]) for a in sub.attachments] == [
        ("document", "part-2.pdf")
    ]
    assert max(seen) == MAX_PARAMS


def test_a_file_name_in_as_many_encoded_words_as_real_mail_has_keeps_its_suffix() -> None:
    # Seven Thai characters to a word, what fits in 75 characters.
    words = _encoded_words(LONG_NAME, 7)
    assert len(words) <= MAX_NAME
    sub = parse_email(_with_attachment(f'attachment; filename="{words}"'.encode()))
    assert [a.ref.rsplit("/", 1)[1] for a in sub.attachments] == ["part-2.pdf"]


def test_a_name_longer_than_any_file_name_is_no_name_and_is_not_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[int] = []

    def spy(header: str) -> list[tuple[bytes | str, str | None]]:
        decoded.append(len(header))
        return decode_header(header)

    monkeypatch.setattr(email_channel, "decode_header", spy)
    # Seconds in decode_header: it slows quadratically with its words.
    name = "=?utf-8?q?a?= " * 50_000 + "=?utf-8?q?.pdf?="
    sub = parse_email(_with_attachment(f'attachment; filename="{name}"'.encode()))
    # Still an attachment, but with no suffix: the name it would come from is unread.
    assert sub.text == "hi"
    assert [(a.kind, a.ref.rsplit("/", 1)[1]) for a in sub.attachments] == [("document", "part-2")]
    assert all(n <= MAX_NAME for n in decoded)


# The tag patterns as first written: slow on unclosed tags, exact on short markup, so
# they are the reference for what is stripped.
PLAIN_TAGS = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.S | re.I)
MARKUP = st.lists(
    st.sampled_from(
        ["<", ">", "a", " ", "\n", "<p>", "</p>", "<>", "<script>", "</script>", "<SCRIPT a=1",
         "<style x>", "</STYLE>", "</style", "&amp;", "ถนน"]
    ),
    max_size=14,
).map("".join)  # fmt: skip


@given(MARKUP)
@example("<p>ถนน<b>พัง</b> &amp; น้ำขัง</p><style>p {color: red}</style><script>x<y</script>")
@example("<a <b>x</b> <script>")
def test_tags_are_stripped_as_the_plain_patterns_strip_them(markup: str) -> None:
    assert _strip_tags(markup) == PLAIN_TAGS.sub(" ", markup)


def _html(markup: str) -> bytes:
    return _mail(b"Content-Type: text/html; charset=utf-8", markup.encode())


# 1 MB, what the HTTP route accepts: unclosed tags there take minutes to strip by a pattern
# that rescans the rest from every "<".
@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<" * 1_000_000, "over 10000 characters"),
        ("<script>" * 125_000, "neither subject nor text"),
        ("<style a" * 125_000 + ">", "neither subject nor text"),
    ],
    ids=["lt", "script", "style"],
)
def test_unclosed_tags_in_a_large_html_body_are_refused_as_before(markup: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_email(_html(markup))
    assert err.value.field == "body" and reason in err.value.reason
