"""The normalizer (property-based): Thai text, phone numbers to E.164, village numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.normalize import phone_e164, village_no
from services.intake.domain.when import parse_when
from shared.thai import THAI_DIGITS, arabic_to_thai_digits, normalize_text

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
thai_text = st.text(
    alphabet=st.sampled_from(
        "กขคงจฉชซญดตถทนบปผพฟมยรลวสหอฮะาิีึืุูเแโใไ่้๊๋็์ำ"
        + THAI_DIGITS
        + "0123456789 \t\n"
        + ZERO_WIDTH
        + "\u00a0"
    ),
    max_size=80,
)


@given(thai_text)
def test_normalized_text_is_stable_and_clean(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert not any(ch in once for ch in ZERO_WIDTH + THAI_DIGITS + "\t\u00a0")
    assert "  " not in once and once == once.strip()


@st.composite
def thai_numbers(draw: st.DrawFn) -> tuple[str, str]:
    mobile = draw(st.booleans())
    rest = draw(st.text("0123456789", min_size=8 if mobile else 7, max_size=8 if mobile else 7))
    national = (draw(st.sampled_from("689")) if mobile else draw(st.sampled_from("2345"))) + rest
    sep = draw(st.sampled_from(["", "-", " ", "."]))
    if draw(st.booleans()):
        written = f"+66{sep}{national[:1]}{sep}{national[1:4]}{sep}{national[4:]}"
    else:
        written = f"0{national[:2]}{sep}{national[2:5]}{sep}{national[5:]}"
    if draw(st.booleans()):
        written = arabic_to_thai_digits(written)
    return written, "+66" + national


@given(thai_numbers())
def test_any_way_of_writing_a_thai_number_gives_one_e164(case: tuple[str, str]) -> None:
    written, expected = case
    assert phone_e164(written) == expected


@pytest.mark.parametrize("bad", ["", "12", "08-123", "phone", "0812345678901", "+66 12"])
def test_what_is_not_a_phone_number_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        phone_e164(bad)


@given(
    st.integers(min_value=1, max_value=99),
    st.sampled_from(["หมู่ที่ {}", "หมู่ {}", "ม.{}", "ม. {}", "หมู่ที่{}"]),
    st.booleans(),
    thai_text,
)
def test_village_number_is_found_in_thai_text(n: int, form: str, thai: bool, noise: str) -> None:
    number = arabic_to_thai_digits(str(n)) if thai else str(n)
    text = f"ถนนพัง {form.format(number)} ตำบลสระโพนทอง"
    assert village_no(text) == n
    assert village_no(noise.replace("ม", "")) is None  # no หมู่/ม. marker, no village


def test_school_grades_and_months_are_not_villages() -> None:
    assert village_no("นักเรียนชั้น ม.3 ข้ามถนน") is None
    assert village_no("เมื่อวันที่ 3 ม.ค.") is None


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("2569-05-16", "2026-05-16T00:00:00+07:00"),
        ("๒๕๖๙-๐๕-๑๖ ๐๙:๓๐", "2026-05-16T09:30:00+07:00"),
        ("2026-05-16T02:30:00Z", "2026-05-16T02:30:00+00:00"),
    ],
)
def test_dates_in_buddhist_era_and_thai_digits(written: str, iso: str) -> None:
    assert parse_when(written).isoformat() == iso
