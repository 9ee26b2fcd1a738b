"""Reading the dates people write: ISO 8601, Buddhist-Era years, Thai digits. Pure."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from shared.dates import BE_THRESHOLD
from shared.thai import BANGKOK, BE_OFFSET, thai_digits_to_arabic


def parse_when(value: Any) -> datetime:
    """An aware datetime from a datetime, a date or an ISO string; naive means Bangkok time.

    Dates alone mean the start of that day in Bangkok. Years in the Buddhist Era are
    converted, because that is how Thai staff write them.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        text = thai_digits_to_arabic(value.strip()).replace(" ", "T", 1)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        year = text[:4]
        if year.isdigit() and int(year) > BE_THRESHOLD:
            text = f"{int(year) - BE_OFFSET:04d}{text[4:]}"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not a date or date-time (ISO 8601): {value!r}") from exc
    else:
        raise ValueError(f"not a date or date-time: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BANGKOK)
    return moment
