"""The web form's human check: a small sum, asked in Thai digits, that needs no outside
service. The question travels in the form, signed with HMAC, so the site keeps no state
per visitor; a signature older than its time to live, or made with another key, fails.

It stops scripts that post blindly, not a determined person: the rate limit does the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from dataclasses import dataclass

from shared.thai import arabic_to_thai_digits, thai_digits_to_arabic


@dataclass(frozen=True)
class Challenge:
    a: int
    b: int
    token: str  # "<a>.<b>.<issued>.<signature>": goes back with the form

    def question_th(self) -> str:
        return f"{arabic_to_thai_digits(str(self.a))} บวก {arabic_to_thai_digits(str(self.b))}"

    def question_en(self) -> str:
        return f"{self.a} + {self.b}"


def _sign(secret: bytes, body: str) -> str:
    return hmac.new(secret, body.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def challenge(secret: bytes, now: int, rng: random.Random | None = None) -> Challenge:
    pick = rng or random.SystemRandom()
    a, b = pick.randint(1, 9), pick.randint(1, 9)
    body = f"{a}.{b}.{now}"
    return Challenge(a, b, f"{body}.{_sign(secret, body)}")


# What `challenge` writes, and a sum of two digits: [0-9] is ASCII only, and nothing longer
# than these reaches int().
_TOKEN = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{1,12})\.([0-9a-f]{32})")
_ANSWER = re.compile(r"[0-9]{1,3}")


def passes(secret: bytes, token: str, answer: str, now: int, ttl: int) -> bool:
    """Whether `answer` (Thai or Arabic digits) is the sum `token` asked, signed by us and
    not older than `ttl` seconds."""
    # Both come from the form: str.isdigit() would pass "²", which int() refuses, and
    # compare_digest raises on a non-ASCII signature.
    found = _TOKEN.fullmatch(token)
    if found is None:
        return False
    a, b, issued = (int(g) for g in found.groups()[:3])
    if not hmac.compare_digest(_sign(secret, ".".join(found.groups()[:3])), found.group(4)):
        return False
    if not 0 <= now - issued <= ttl:
        return False
    given = thai_digits_to_arabic(answer.strip())
    return _ANSWER.fullmatch(given) is not None and int(given) == a + b
