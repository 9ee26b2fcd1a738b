"""Money is exact: baht as people write them in, integer satang inside.

The one parser both HTTP and Kafka go through, so they accept and refuse the same
amounts. Floats never get here as amounts: 0.1 + 0.2 is not 0.3 in binary, and a
budget that is off by a satang can cross the 10-million-baht line.
"""

from __future__ import annotations

import re

from shared.thai import arabic_to_thai_digits, thai_digits_to_arabic

SATANG_PER_BAHT = 100
# Ten trillion baht, nearly three times the Kingdom's yearly budget: more is a typo or an attack.
# Stored as a 64-bit integer (MongoDB's widest), a larger amount would not even be kept.
MAX_SATANG = 10**15
# Digits of a whole number of baht that can be within MAX_SATANG: checked before the text is
# turned into a number, which Python refuses beyond 4,300 digits with a bare ValueError.
_MAX_WHOLE_DIGITS = len(str(MAX_SATANG // SATANG_PER_BAHT))

# Either plain digits or digits grouped by three with commas; up to two decimals.
_AMOUNT = re.compile(r"^(?P<int>\d+|\d{1,3}(?:,\d{3})+)(?:\.(?P<frac>\d{0,2}))?$")
_SUFFIXES = ("บาท", "baht", "thb", "฿")


class InvalidMoney(ValueError):
    """An amount that is not exact, not positive-or-zero, or not readable."""


def parse_baht(value: object) -> int:
    """Baht (a decimal string or a whole number) -> integer satang, or InvalidMoney."""
    if isinstance(value, bool):
        raise InvalidMoney("an amount must be baht, not true/false")
    if isinstance(value, int):
        if value < 0:
            raise InvalidMoney(f"a negative amount ({value}) is not a budget")
        return _bounded(value * SATANG_PER_BAHT)
    if isinstance(value, float):
        raise InvalidMoney(
            "a JSON number with a fraction is not an exact amount;"
            ' send a decimal string such as "10,000,000.00" or whole baht'
        )
    if not isinstance(value, str):
        raise InvalidMoney(f"an amount must be a decimal string or whole baht, not {value!r}")
    text = thai_digits_to_arabic(value).strip().replace("\u00a0", "").replace(" ", "")
    lowered = text.lower()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix):
            text = text[: -len(suffix)]
            break
        if lowered.startswith(suffix):
            text = text[len(suffix) :]
            break
    if text.startswith(("-", "\u2212")):
        raise InvalidMoney(f"a negative amount ({value}) is not a budget")
    text = text.removeprefix("+")
    match = _AMOUNT.match(text)
    if match is None:
        if re.match(r"^[\d,]*\.\d{3,}$", text):
            raise InvalidMoney(f"{value!r} has more than two decimal places (satang)")
        raise InvalidMoney(
            f'{value!r} is not an amount of baht such as "10,000,000.00" or "๑๒,๕๐๐,๐๐๐"'
        )
    digits = match.group("int").replace(",", "").lstrip("0")
    if len(digits) > _MAX_WHOLE_DIGITS:
        raise _too_much()
    frac = (match.group("frac") or "").ljust(2, "0")
    return _bounded(int(digits or "0") * SATANG_PER_BAHT + int(frac))


def _too_much() -> InvalidMoney:
    limit = format_baht(MAX_SATANG)
    return InvalidMoney(f"an amount over {limit} baht is not a budget (เกิน {limit} บาท)")


def _bounded(satang: int) -> int:
    if satang > MAX_SATANG:
        raise _too_much()
    return satang


def format_baht(satang: int, *, thai_digits: bool = False) -> str:
    """12,000,000.00 — with Thai digits on request (๑๒,๐๐๐,๐๐๐.๐๐)."""
    sign = "-" if satang < 0 else ""
    whole, frac = divmod(abs(satang), SATANG_PER_BAHT)
    text = f"{sign}{whole:,}.{frac:02d}"
    return arabic_to_thai_digits(text) if thai_digits else text
