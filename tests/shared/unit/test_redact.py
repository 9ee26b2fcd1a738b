"""The redactor on long runs: every pattern stays linear in the length of the text.

No timings are asserted: a pattern that rescans from every character needs minutes
for one of these texts, which the run cannot miss.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.redact import EMAIL, _redact_emails, redact

LONG = 200_000
# The address pattern as first written: slow on long runs, exact on short ones, so it is
# the reference for which addresses are taken.
PLAIN_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")


@pytest.mark.parametrize(
    "run",
    [
        "๑" * LONG,
        "1" * LONG,
        "ก" * LONG,
        "a" * LONG,
        "a." * (LONG // 2),
        "1-" * (LONG // 2),
        "ab1ก.+" * (LONG // 6),
        " " * LONG,
        "\u2028" * LONG,
        "x" * LONG + "@",
        "a@" + "b-" * (LONG // 2),
    ],
    ids=lambda run: repr(run[:6]),
)
def test_a_long_run_without_personal_data_comes_back_whole(run: str) -> None:
    assert redact(run) == run


def test_an_address_after_a_long_unspaced_thai_run_is_still_taken_whole() -> None:
    # Thai is written without spaces, so the run before the "@" is the local part however
    # long it is: taking too much is the accepted failure, leaving the address is not.
    assert redact("ก" * LONG + "somchai@example.co.th ขอบคุณ") == f"{EMAIL} ขอบคุณ"
    assert redact("ติดต่อ somchai.k@example.co.th ครับ") == f"ติดต่อ {EMAIL} ครับ"


ADDRESS_BITS = st.lists(st.sampled_from([*"ab1๑ก.+-@ _\n", "th", "@b.c"]), max_size=30).map("".join)


@given(ADDRESS_BITS)
@example("a@b.th+c@d.th")
@example("a@b.th.@c.th x@y.th")
@example("x.y+z@mail.example.co.th, ก@ข.ไทย")
def test_addresses_are_the_ones_the_plain_pattern_takes(text: str) -> None:
    assert _redact_emails(text) == PLAIN_EMAIL.sub(EMAIL, text)
