"""Scrubbing personal data out of free text before anything is published (PDPA). Pure.

Over-redaction is the accepted failure mode: a published sentence missing a word is
a nuisance, a published phone number is a breach. Digits are matched in Arabic and
Thai forms, so the redactor is safe on raw as well as normalized text.
"""

from __future__ import annotations

import re

D = "[0-9๐-๙]"
SEP = r"[\s\-.]?"
THAI = "[\u0e00-\u0e7f]"

EMAIL = "[อีเมล]"
ID_CARD = "[เลขบัตรประชาชน]"
PHONE = "[เบอร์โทร]"
HOUSE = "[บ้านเลขที่]"
NAME = "[ชื่อ]"
LINE_ID = "[LINE ID]"

_ADDRESS = r"[\w.+\-]++@[\w\-]+(?:\.[\w\-]+)+"
# An address is tried only where a run of its characters starts: tried inside the run
# too, a long run without "@" (Thai text has no spaces) is rescanned from every letter.
_EMAIL = re.compile(rf"(?<![\w.+\-]){_ADDRESS}")
_EMAIL_HERE = re.compile(_ADDRESS)
# 13-digit Thai citizen ID, bare or as 1-2345-67890-12-3 (any separators).
_ID_CARD = re.compile(
    rf"(?<![0-9๐-๙]){D}{SEP}{D}{{4}}{SEP}{D}{{5}}{SEP}{D}{{2}}{SEP}{D}(?![0-9๐-๙])"
)
# Thai phones: 0X-XXX-XXXX, 0XX-XXX-XXXX, +66 X XXXX XXXX, 66XXXXXXXXX, with any
# separators between digits; long digit runs are taken too rather than guessed at.
_PHONE = re.compile(
    rf"(?<![0-9๐-๙])(?:\+?(?:66|๖๖){SEP}(?:\(?0\)?)?|\(?[0๐]){D}(?:{SEP}{D}){{7,8}}(?![0-9๐-๙])"
)
_LINE_USER = re.compile(r"\bU[0-9a-f]{32}\b")
# Words after which a number is the place's own (หมู่ 4, ซอย 11) or a year, not a house's.
_PLACE_WORDS = ("หมู่", "ม.", "ซอย", "ซ.", "ถนน", "ถ.", "ตำบล", "ต.", "ปี", "พ.ศ.", "ค.ศ.")
_NOT_AFTER_PLACE = "".join(f"(?<!{re.escape(w + gap)})" for w in _PLACE_WORDS for gap in ("", " "))
_HOUSE = re.compile(
    rf"(?:บ้านเลขที่|เลขที่|บ้านเลข|บ้าน)\s*{D}+(?:\s*/\s*{D}+)?"
    rf"|(?<![0-9๐-๙/]){D}{{1,4}}/{D}{{1,4}}(?![0-9๐-๙/])(?=\s*(?:หมู่|ม\.|ถ\.|ถนน|ซ\.|ซอย|ต\.|ตำบล))"
    # A bare number before the street or village of an address: "10 ซอย สุขุมวิท 11".
    rf"|(?:^|(?<=\s)){_NOT_AFTER_PLACE}{D}{{1,4}}(?![0-9๐-๙/])"
    rf"(?=\s*(?:หมู่(?!บ้าน)|ม\.|ถ\.|ถนน|ซ\.|ซอย))"
)
# Words that start like a title but are not one (นายก = mayor, คุณภาพ = quality...).
_NOT_NAMES = (
    "นายก", "นายอำเภอ", "นายช่าง", "นายจ้าง", "นายทุน", "นายหน้า", "นายประกัน", "นายทหาร",
    "นายตำรวจ", "นายแพทย์", "นายสิบ", "นายร้อย", "นายพัน", "นายพล", "นายท่า", "นายด่าน",
    "นางพยาบาล", "นางงาม", "นางฟ้า", "นางแบบ", "นางเอก", "นางรำ",
    "คุณภาพ", "คุณค่า", "คุณสมบัติ", "คุณธรรม", "คุณประโยชน์", "คุณลักษณะ", "คุณูปการ",
    "คุณวุฒิ", "คุณงาม", "คุณแม่", "คุณพ่อ", "คุณครู", "คุณป้า", "คุณลุง", "คุณยาย", "คุณตา",
)  # fmt: skip
_TITLES = r"(?:นางสาว|น\.ส\.|นาง|นาย|เด็กชาย|เด็กหญิง|ด\.ช\.|ด\.ญ\.|คุณ)"
_NOT = "|".join(re.escape(w) for w in sorted(_NOT_NAMES, key=len, reverse=True))
# Words that follow a name without being a surname.
_AFTER_NAME = "หมู่|ม\\.|บ้าน|โทร|เบอร์|อายุ|แจ้ง|ร้อง|ขอ|ได้|ที่|ซึ่ง|และ|กับ|บอก|เป็น"
# Title, the given name, and a short following word taken as the surname.
_THAI_NAME = re.compile(
    rf"(?!{_NOT}){_TITLES}\s*{THAI}+(?:[ \t]+(?!{_AFTER_NAME}){THAI}{{2,15}}(?!{THAI}))?"
)
_EN_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+[A-Z][A-Za-z'\-]*(?:\s+[A-Z][A-Za-z'\-]*)?")


def _redact_emails(text: str) -> str:
    pieces: list[str] = []
    pos = 0
    found = _EMAIL.search(text)
    while found is not None:
        pieces += (text[pos : found.start()], EMAIL)
        pos = found.end()
        # Straight after an address the next may start mid-run ("a@b.th+c@d.th"), where
        # the lookbehind would refuse it.
        found = _EMAIL_HERE.match(text, pos) or _EMAIL.search(text, pos)
    pieces.append(text[pos:])
    return "".join(pieces)


def redact(text: str) -> str:
    """The text with names, phones, emails, ID numbers, house numbers and LINE ids replaced."""
    text = _redact_emails(text)
    text = _LINE_USER.sub(LINE_ID, text)
    text = _ID_CARD.sub(ID_CARD, text)
    text = _PHONE.sub(PHONE, text)
    text = _HOUSE.sub(HOUSE, text)
    text = _THAI_NAME.sub(NAME, text)
    text = _EN_NAME.sub(NAME, text)
    return text
