"""Thai calendar and text conventions used across services.

Fiscal year: 1 October to 30 September, named by the Buddhist-Era year in which it
ends (FY2569 = 1 Oct 2025 - 30 Sep 2026). Times are stored in UTC and shown in
Asia/Bangkok (UTC+7, no daylight saving).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone

BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")
BE_OFFSET = 543

THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_TO_ARABIC = str.maketrans(THAI_DIGITS, "0123456789")
_TO_THAI = str.maketrans("0123456789", THAI_DIGITS)
# Zero-width space/joiners, BOM, soft hyphen: invisible characters that break matching.
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
# From the start of a whitespace run only: tried inside a run that has no newline (\r,
# \u2028 and \v are not collapsed above) the match would rescan the run from every character.
_BLANK_LINES = re.compile(r"(?<!\s)[^\S\n]*\n\s*")

# The figures of measure 3 as the SAO names them: insight's reports and plans and the
# console's analysis page use these words.
METRIC_NAMES_TH = {
    "received": "จำนวนเรื่องที่รับ",
    "mean_days_to_acknowledge": "วันเฉลี่ยจนรับเรื่อง",
    "mean_days_to_resolve": "วันเฉลี่ยจนแก้ไขเสร็จ",
    "percent_within_deadline": "ร้อยละที่ตอบภายในกำหนด 15 วัน",
    "percent_reopened": "ร้อยละที่ต้องเปิดเรื่องใหม่",
    "percent_satisfied": "ร้อยละความพึงพอใจ",
}

THAI_MONTHS = (
    "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
    "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม",
)  # fmt: skip
THAI_MONTHS_SHORT = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip


def to_bangkok(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BANGKOK)


def fiscal_year_be(moment: datetime | date) -> int:
    """Thai government fiscal year (Buddhist Era) of a moment, judged in Bangkok time."""
    day = to_bangkok(moment).date() if isinstance(moment, datetime) else moment
    year = day.year + 1 if day.month >= 10 else day.year
    return year + BE_OFFSET


def fiscal_year_bounds(fiscal_year_be_: int) -> tuple[datetime, datetime]:
    """[start, end) of a fiscal year as aware UTC datetimes."""
    ce_end = fiscal_year_be_ - BE_OFFSET
    start = datetime(ce_end - 1, 10, 1, tzinfo=BANGKOK)
    end = datetime(ce_end, 10, 1, tzinfo=BANGKOK)
    return start.astimezone(UTC), end.astimezone(UTC)


def thai_digits_to_arabic(text: str) -> str:
    return text.translate(_TO_ARABIC)


def arabic_to_thai_digits(text: str) -> str:
    return text.translate(_TO_THAI)


def normalize_text(text: str) -> str:
    """NFC, no zero-width characters, Thai digits read as numbers, whitespace collapsed."""
    # Zero-width characters first: removing one can bring two marks together that
    # NFC must then put in canonical order.
    text = _ZERO_WIDTH.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = thai_digits_to_arabic(text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    return text.strip()


def format_thai_date(moment: datetime | date, *, short: bool = False) -> str:
    """'16 พฤษภาคม 2566' — the form used in Thai official documents."""
    day = to_bangkok(moment).date() if isinstance(moment, datetime) else moment
    months = THAI_MONTHS_SHORT if short else THAI_MONTHS
    return f"{day.day} {months[day.month - 1]} {day.year + BE_OFFSET}"


def format_case_id(prefix: str, fiscal_year: int, sequence: int) -> str:
    """SPT-2569-000123: organisation prefix, fiscal year (BE), sequence within it."""
    return f"{prefix}-{fiscal_year}-{sequence:06d}"
