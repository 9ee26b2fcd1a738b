"""How the site writes dates, numbers and money: Buddhist-Era dates in Thai or English,
Thai digits when the reader chose them. Pure formatting; shared/thai.py holds the calendar."""

from __future__ import annotations

from datetime import date, datetime

from shared.thai import (
    BE_OFFSET,
    THAI_MONTHS,
    THAI_MONTHS_SHORT,
    arabic_to_thai_digits,
    format_thai_date,
    to_bangkok,
)

EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def digits(text: str, thai: bool) -> str:
    return arabic_to_thai_digits(text) if thai else text


def be_date(moment: datetime | date | None, lang: str = "th", *, thai_digits: bool = False) -> str:
    """'16 พฤษภาคม 2569' or '16 May 2569 BE': the day in Bangkok, the year Buddhist Era."""
    if moment is None:
        return "–"
    if lang == "th":
        return digits(format_thai_date(moment), thai_digits)
    day = to_bangkok(moment).date() if isinstance(moment, datetime) else moment
    return f"{day.day} {EN_MONTHS[day.month - 1]} {day.year + BE_OFFSET} BE"


def be_datetime(moment: datetime | None, lang: str = "th", *, thai_digits: bool = False) -> str:
    if moment is None:
        return "–"
    local = to_bangkok(moment)
    time = f"{local:%H:%M}" + (" น." if lang == "th" else "")
    return f"{be_date(moment, lang, thai_digits=thai_digits)} {digits(time, thai_digits)}"


def month_label(month: str, lang: str = "th", *, thai_digits: bool = False) -> str:
    """'2026-05' -> 'พ.ค. 2569' / 'May 2569'."""
    year, number = (int(p) for p in month.split("-"))
    if lang == "th":
        return digits(f"{THAI_MONTHS_SHORT[number - 1]} {year + BE_OFFSET}", thai_digits)
    return f"{EN_MONTHS[number - 1][:3]} {year + BE_OFFSET}"


def month_long(month: str, lang: str = "th") -> str:
    year, number = (int(p) for p in month.split("-"))
    names = THAI_MONTHS if lang == "th" else EN_MONTHS
    return f"{names[number - 1]} {year + BE_OFFSET}"


def number(value: float | int | None, *, places: int = 0, thai_digits: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value:,.{places}f}"
    return digits(text, thai_digits)


def baht(satang: int, *, thai_digits: bool = False) -> str:
    """Integer satang as baht with two decimals and thousands commas: 2,500,000.00."""
    sign = "-" if satang < 0 else ""
    whole, cents = divmod(abs(satang), 100)
    return digits(f"{sign}{whole:,}.{cents:02d}", thai_digits)
