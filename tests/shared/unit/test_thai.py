"""normalize_text on long whitespace runs: linear in the length of the text.

No timings are asserted: a pattern that rescans from every character needs minutes
for one of these texts, which the run cannot miss.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.thai import _BLANK_LINES, normalize_text

LONG = 200_000
PLAIN_BLANK_LINES = re.compile(r"\s*\n\s*")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Whitespace the space collapsing leaves alone, with no newline to end the run.
        ("ก" + "\u2028" * LONG + "ข", "ก" + "\u2028" * LONG + "ข"),
        ("ก" + "\r" * LONG + "ข", "ก" + "\r" * LONG + "ข"),
        ("ก" + "\x0b \r" * (LONG // 3) + "ข", "ก" + "\x0b \r" * (LONG // 3) + "ข"),
        ("ก" + "\r" * LONG + "\n" + "\u2028" * LONG + "ข", "ก\nข"),
        ("ก" + " \n" * LONG + "ข", "ก\nข"),
    ],
    ids=["u2028", "cr", "mixed", "cr-newline", "space-newline"],
)
def test_long_whitespace_runs_are_normalized(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@given(
    st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\u2028\u2029\u00a0ก1"), max_size=30)
)
def test_blank_lines_collapse_as_the_plain_pattern_does(text: str) -> None:
    assert _BLANK_LINES.sub("\n", text) == PLAIN_BLANK_LINES.sub("\n", text)
