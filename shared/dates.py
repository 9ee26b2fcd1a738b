"""Calendar dates as Thai staff write them: in the Buddhist Era (2569-05-01) as often as in
the Common Era (2026-05-01). `BeDate` takes either and keeps the Common Era, so what is
stored and sent on the wire is always an ISO date of the Common Era.

A year past 2400 is read as Buddhist Era (intake's `parse_when` uses the same line): 2400
BE is 1857 CE, long before any record kept here, and 2400 CE is centuries away. What is
left after that reading must fall within 1900-2200 CE; anything else is a typo, and taking
it would file a meeting under fiscal year 3112 or look for hotspots six centuries ahead.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, TypeAdapter, ValidationError

from shared.thai import BE_OFFSET, thai_digits_to_arabic

BE_THRESHOLD = 2400
EARLIEST_CE = 1900
LATEST_CE = 2200
# The year is turned into the Common Era as text, before the date is read: 29 February of
# a leap year (2567 BE = 2024 CE) is no date in a year numbered 2567.
_LEADING_YEAR = re.compile(r"^([0-9]{4})(-.*)$", re.S)


def _out_of_range(written: object) -> ValueError:
    return ValueError(
        f"{written}: the year must be {EARLIEST_CE} to {LATEST_CE} (Common Era)"
        f" or {EARLIEST_CE + BE_OFFSET} to {LATEST_CE + BE_OFFSET} (Buddhist Era)"
    )


def _to_common_era(value: object) -> object:
    if isinstance(value, str):
        text = thai_digits_to_arabic(value.strip())
        found = _LEADING_YEAR.match(text)
        if found is None:
            return text  # not ISO: pydantic says so
        year = int(found.group(1))
        if year > BE_THRESHOLD:
            year -= BE_OFFSET
        if not EARLIEST_CE <= year <= LATEST_CE:
            raise _out_of_range(value)  # named as written, not as converted
        return f"{year:04d}{found.group(2)}"
    if isinstance(value, date) and value.year > BE_THRESHOLD:
        return _to_common_era(value.isoformat())
    return value


def _sane(value: date) -> date:
    # what came in as a date object or a timestamp rather than as text
    if not EARLIEST_CE <= value.year <= LATEST_CE:
        raise _out_of_range(value.isoformat())
    return value


BeDate = Annotated[date, BeforeValidator(_to_common_era), AfterValidator(_sane)]
"""A date in the Common Era or the Buddhist Era (YYYY-MM-DD, Thai digits allowed), kept in
the Common Era."""

_BE_DATE: TypeAdapter[date] = TypeAdapter(BeDate)


def parse_be_date(text: str) -> date:
    """`BeDate` for a query parameter: ValueError with the reason a person can act on."""
    try:
        return _BE_DATE.validate_python(text)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(reason) from exc


__all__ = ["BE_THRESHOLD", "EARLIEST_CE", "LATEST_CE", "BeDate", "parse_be_date"]
