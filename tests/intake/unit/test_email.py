"""Email: raw RFC 5322 messages in UTF-8, TIS-620 and windows-874, parsed with the stdlib."""

from __future__ import annotations

import base64
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from services.intake.channels.email import message_ref, parse_email
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
