"""`shared.dates.BeDate`: a date as Thai staff write it, Buddhist Era or Common Era, kept and
sent in the Common Era; a year outside 1900-2200 CE (2443-2743 BE) is refused, by name."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import BaseModel, ValidationError

from shared.dates import BeDate, parse_be_date


class Meeting(BaseModel):
    held_on: BeDate
    next_on: BeDate | None = None


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("2026-05-01", date(2026, 5, 1)),
        ("2569-05-01", date(2026, 5, 1)),
        ("๒๕๖๙-๐๕-๐๑", date(2026, 5, 1)),
        (" 2569-05-01 ", date(2026, 5, 1)),
        # 2567 BE is 2024 CE, a leap year, though 2567 is not one by the Gregorian rule
        ("2567-02-29", date(2024, 2, 29)),
        ("2443-01-01", date(1900, 1, 1)),
        ("2743-12-31", date(2200, 12, 31)),
        ("1900-01-01", date(1900, 1, 1)),
        ("2200-12-31", date(2200, 12, 31)),
        (date(2026, 5, 1), date(2026, 5, 1)),
        (date(2569, 5, 1), date(2026, 5, 1)),
        ("2569-05-01T00:00:00", date(2026, 5, 1)),
    ],
)
def test_either_era_is_kept_in_the_common_era(written: object, kept: date) -> None:
    assert Meeting.model_validate({"held_on": written}).held_on == kept
    if isinstance(written, str):
        assert parse_be_date(written) == kept


@pytest.mark.parametrize(
    "written",
    [
        "3112-05-01",
        "1899-12-31",
        "2201-01-01",
        "2300-06-01",
        "2401-01-01",
        "9999-12-31",
        "0001-01-01",
    ],
)
def test_a_year_of_no_era_is_refused_naming_the_field_and_the_range(written: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Meeting.model_validate({"held_on": written})
    (error,) = caught.value.errors()
    assert error["loc"] == ("held_on",)
    assert (
        written in error["msg"]
        and "1900 to 2200" in error["msg"]
        and "2443 to 2743" in error["msg"]
    )
    with pytest.raises(ValueError, match="2443 to 2743"):
        parse_be_date(written)


@pytest.mark.parametrize(
    "written", ["", "x", "2569-13-01", "2569-02-30", "²⁰²⁶-01-01", "٢٠٢٦-01-01", "2026/05/01"]
)
def test_what_is_no_date_is_refused(written: str) -> None:
    with pytest.raises(ValidationError):
        Meeting.model_validate({"held_on": written})
    with pytest.raises(ValueError):
        parse_be_date(written)


def test_a_date_object_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationError):
        Meeting.model_validate({"held_on": date(1800, 1, 1)})
    with pytest.raises(ValidationError):
        Meeting.model_validate({"held_on": datetime(2300, 1, 1)})


def test_on_the_wire_it_is_an_iso_date_of_the_common_era() -> None:
    m = Meeting.model_validate({"held_on": "2569-05-01", "next_on": None})
    assert m.model_dump_json() == '{"held_on":"2026-05-01","next_on":null}'
    assert Meeting.model_validate_json(m.model_dump_json()) == m
    assert Meeting.model_json_schema()["properties"]["held_on"]["format"] == "date"
