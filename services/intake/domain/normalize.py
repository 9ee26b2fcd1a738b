"""Turning what citizens write into comparable values. Pure.

Text: see shared.thai.normalize_text (the original is always kept beside it).
Phones: E.164 (+66...), so one person is one contact whatever they typed.
Villages: the หมู่ที่ (village number) is how a rural SAO knows where a matter is.
"""

from __future__ import annotations

import re

from shared.events.cases import Location
from shared.thai import normalize_text, thai_digits_to_arabic

# "หมู่ที่ 3", "หมู่ 3", "ม.3", "ม. 3" - but not "ชั้น ม.3" (a school grade).
_VILLAGE = re.compile(r"(?<!ชั้น)(?<!ชั้น )(?:หมู่ที่|หมู่บ้านที่|หมู่|ม\.)\s*(\d{1,2})(?!\d)")
_PHONE_JUNK = re.compile(r"[\s\-().]")


def phone_e164(raw: str) -> str:
    """A Thai phone number in E.164; ValueError if it cannot be one."""
    text = _PHONE_JUNK.sub("", thai_digits_to_arabic(normalize_text(raw)))
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit():
            raise ValueError(f"not a phone number: {raw!r}")
        if digits.startswith("66"):
            national = digits[2:]
            national = national[1:] if national.startswith("0") else national
            if len(national) in (8, 9):
                return "+66" + national
            raise ValueError(f"a Thai number has 8 or 9 digits after +66: {raw!r}")
        if 8 <= len(digits) <= 15:
            return "+" + digits  # a foreign number, kept as given
        raise ValueError(f"not a phone number: {raw!r}")
    if not text.isdigit():
        raise ValueError(f"not a phone number: {raw!r}")
    if text.startswith("66") and len(text) in (10, 11):
        return "+" + text
    if text.startswith("0") and len(text) in (9, 10):
        return "+66" + text[1:]
    raise ValueError(f"a Thai number starts with 0 and has 9 or 10 digits: {raw!r}")


def village_no(text: str | None) -> int | None:
    """The village number mentioned in a Thai address or message, if any."""
    if not text:
        return None
    match = _VILLAGE.search(normalize_text(text))
    if match is None:
        return None
    number = int(match.group(1))
    return number if 1 <= number <= 99 else None


def locate(location: Location | None, *texts: str | None) -> Location | None:
    """The location with its village number filled in from the address or the text."""
    if location is not None and location.village_no is not None:
        return location
    found = None
    for text in (location.address if location else None, *texts):
        found = village_no(text)
        if found is not None:
            break
    if location is None:
        return Location(village_no=found) if found is not None else None
    if found is None:
        return location
    return location.model_copy(update={"village_no": found})
