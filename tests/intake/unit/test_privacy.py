"""The redactor (property-based) and the privacy rules of PDPA."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.redact import redact
from shared.thai import arabic_to_thai_digits

# What must never be published: phones, emails, LINE user ids, ID-card numbers.
PERSONAL = [
    re.compile(r"(?<![0-9])0[0-9]{1,2}[-\s]?[0-9]{3}[-\s]?[0-9]{3,4}(?![0-9])"),
    re.compile(r"\+66[0-9\s-]{8,}"),
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    re.compile(r"U[0-9a-f]{32}"),
    re.compile(r"(?<![0-9])[0-9]-?[0-9]{4}-?[0-9]{5}-?[0-9]{2}-?[0-9](?![0-9])"),
    re.compile(r"[๐-๙]{9,}"),
]

thai_words = st.lists(
    st.sampled_from(
        [
            "ถนน",
            "พัง",
            "ไฟดับ",
            "หมู่บ้าน",
            "ช่วยด้วย",
            "ครับ",
            "ค่ะ",
            "น้ำท่วม",
            "ขยะ",
            "เมื่อวาน",
            "ปี 2566",
            "เวลา 08:30",
            "ราคา 150 บาท",
        ]
    ),
    max_size=6,
).map(" ".join)
seps = st.sampled_from(["", "-", " ", "."])


@st.composite
def phones(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["08", "09", "06", "02", "04"]))
    digits = draw(
        st.text(
            "0123456789",
            min_size=8 if prefix[1] in "689" else 7,
            max_size=8 if prefix[1] in "689" else 7,
        )
    )
    s = draw(seps)
    number = f"{prefix}{digits[:1]}{s}{digits[1:4]}{s}{digits[4:]}"
    if draw(st.booleans()):
        number = "+66" + draw(st.sampled_from(["", " "])) + number[1:]
    return arabic_to_thai_digits(number) if draw(st.booleans()) else number


@st.composite
def id_cards(draw: st.DrawFn) -> str:
    d = draw(st.text("0123456789", min_size=13, max_size=13))
    s = draw(seps)
    return f"{d[0]}{s}{d[1:5]}{s}{d[5:10]}{s}{d[10:12]}{s}{d[12]}"


emails = st.from_regex(
    r"[a-z][a-z0-9._]{0,12}@[a-z]{2,10}\.(com|co\.th|go\.th|ac\.th)", fullmatch=True
)
line_ids = st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda h: "U" + h)


@settings(max_examples=300)
@given(
    before=thai_words, after=thai_words, secret=st.one_of(phones(), id_cards(), emails, line_ids)
)
def test_no_generated_identifier_survives_in_thai_text(
    before: str, after: str, secret: str
) -> None:
    text = f"{before} ติดต่อ {secret} {after}"
    out = redact(text)
    assert secret not in out
    for pattern in PERSONAL:
        assert not pattern.search(out), (text, out)


@given(st.text(max_size=200))
def test_redaction_is_idempotent_and_total(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@given(thai_words)
def test_text_without_personal_data_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_names_titles_and_house_numbers_are_scrubbed() -> None:
    text = (
        "นายสมชาย ใจดี บ้านเลขที่ 12/3 หมู่ที่ 4 ร้องเรียนว่า น.ส.มาลี ศรีสุข และ "
        "ด.ช.ต้น เลขที่ 45 กับ Mrs. Jane Doe ไม่ได้รับเบี้ยยังชีพ"
    )
    out = redact(text)
    for gone in ("สมชาย", "ใจดี", "12/3", "มาลี", "ศรีสุข", "ต้น", "45", "Jane", "Doe"):
        assert gone not in out
    assert "หมู่ที่ 4" in out and "ไม่ได้รับเบี้ยยังชีพ" in out


def test_a_bare_house_number_before_the_street_or_village_is_scrubbed() -> None:
    # A Traffy report's address, as the demo's public text had it.
    assert redact("ไฟทางดับหน้า 10 ซอย สุขุมวิท 11") == "ไฟทางดับหน้า [บ้านเลขที่] ซอย สุขุมวิท 11"
    assert redact("12 หมู่ 4 น้ำไม่ไหล") == "[บ้านเลขที่] หมู่ 4 น้ำไม่ไหล"
    assert redact("99 ถ.พหลโยธิน") == "[บ้านเลขที่] ถ.พหลโยธิน"
    # The numbers of the places themselves, and counts, stay.
    for kept in ("ถนนพัง หมู่ 4 ซอย 3", "ซอย 5 ถนนพัง", "ไฟดับ 3 หมู่บ้าน", "ปี 2566 ถนนพัง"):
        assert redact(kept) == kept


def test_words_that_merely_start_like_titles_are_kept() -> None:
    text = "นายก อบต. ไม่ตอบ คุณภาพน้ำประปาแย่ นางพยาบาลบอกว่า"
    assert redact(text) == text
