"""One money parser for HTTP and Kafka: exact, in satang, Thai digits and commas welcome."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.compliance.domain.money import InvalidMoney, format_baht, parse_baht
from shared.thai import arabic_to_thai_digits

MAX_SATANG = 10**15  # ten trillion baht: beyond any Thai public budget


@pytest.mark.parametrize(
    ("text", "satang"),
    [
        ("10,000,000.00", 1_000_000_000),
        ("10,000,000.01", 1_000_000_001),
        ("10000000.5", 1_000_000_050),
        ("๑๒,๕๐๐,๐๐๐.๐๐", 1_250_000_000),
        ("50,000 บาท", 5_000_000),
        (" 9,000,000 ", 900_000_000),
        ("0", 0),
        (12_000_000, 1_200_000_000),
    ],
)
def test_amounts_people_write_are_read_exactly(text: object, satang: int) -> None:
    assert parse_baht(text) == satang


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (10_000_000.0, "JSON number with a fraction"),
        (1.5, "JSON number with a fraction"),
        (-1, "negative"),
        ("-10,000.00", "negative"),
        ("10.001", "more than two decimal places"),
        ("1,00,000", "not an amount"),
        ("สิบล้าน", "not an amount"),
        ("", "not an amount"),
        (True, "not true/false"),
        (None, "decimal string"),
    ],
)
def test_inexact_negative_or_unreadable_amounts_are_refused(value: object, why: str) -> None:
    with pytest.raises(InvalidMoney, match=why):
        parse_baht(value)


@given(
    satang=st.integers(min_value=0, max_value=MAX_SATANG),
    commas=st.booleans(),
    thai=st.booleans(),
    trim=st.booleans(),
)
def test_any_amount_written_out_parses_back_to_the_same_satang(
    satang: int, commas: bool, thai: bool, trim: bool
) -> None:
    text = format_baht(satang)
    if not commas:
        text = text.replace(",", "")
    if trim and text.endswith(".00"):
        text = text[:-3]  # whole baht, written without the decimals
    if thai:
        text = arabic_to_thai_digits(text)
    assert parse_baht(text) == satang


@given(st.integers(min_value=0, max_value=10**12))
def test_whole_baht_as_a_json_integer_is_a_hundred_satang_each(baht: int) -> None:
    assert parse_baht(baht) == baht * 100
    assert parse_baht(str(baht)) == baht * 100
