"""Likely duplicates: the same problem reported twice. Pure.

An open case of the same category within 100 m, or in the same village with similar
words, is flagged on the new case (by the first report of that case's own chain, so one
problem's reports all name one case); merging stays an officer's decision (mark_duplicate).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from services.routing.domain.classifier import MAX_CLASSIFIED_CHARS, normalize_text, tokenize
from services.routing.domain.model import Case
from shared.events.cases import citizen_words

EARTH_RADIUS_M = 6_371_000.0
NEAR_M = 100.0
SIMILAR_TEXT = 0.5  # Jaccard of word sets
# Words that say nothing about which problem it is.
_STOP = frozenset(
    {
        "<num>",
        "ครับ",
        "ค่ะ",
        "คะ",
        "นะ",
        "และ",
        "ที่",
        "มี",
        "ไม่",
        "ให้",
        "ได้",
        "การ",
        "ของ",
        "ใน",
        "จะ",
        "เป็น",
        "มาก",
        "แล้ว",
        "ด้วย",
        "หน้า",
        "บ้าน",
    }
)


@dataclass(frozen=True, slots=True)
class Candidate:
    case_id: str
    category: str | None
    lat: float | None
    lon: float | None
    village_no: int | None
    text: str
    duplicate_root: str | None = None  # the first report of its own chain, if any


@dataclass(frozen=True)
class Match:
    case_id: str
    reason: str
    # The first report of the chain the match belongs to: a case is flagged against the
    # nearest open one, which may itself be a duplicate; pointing every report of one
    # problem at the same first one keeps the chain one group (insight's linked hotspots).
    root: str = ""

    def first(self) -> str:
        return self.root or self.case_id


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(
    lat: float, lon: float, radius_m: float = NEAR_M
) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) that contains every point within radius_m."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 1e-6)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def word_set(text: str) -> frozenset[str]:
    """The words two reports are compared by: the citizens' own, never a channel's."""
    return frozenset(
        t
        for t in tokenize(normalize_text(citizen_words(text)[:MAX_CLASSIFIED_CHARS]))
        if t not in _STOP and len(t) > 1
    )


# The same open cases are compared with every new one. Only theirs are kept: their texts
# are short and held by the working set anyway, and a new report's own words are worked
# out beside its ranking (see `likely_duplicate`).
words = lru_cache(maxsize=8192)(word_set)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def likely_duplicate(
    case: Case, candidates: Iterable[Candidate], mine: frozenset[str] | None = None
) -> Match | None:
    """The closest open case that is probably the same matter, if any.

    `mine` is `word_set(case.text)` when the caller has it already."""
    best: tuple[float, Match] | None = None
    for c in candidates:
        if c.case_id == case.case_id:
            continue
        if (
            case.category
            and c.category == case.category
            and None not in (case.lat, case.lon, c.lat, c.lon)
        ):
            assert case.lat is not None and case.lon is not None
            assert c.lat is not None and c.lon is not None
            d = haversine_m(case.lat, case.lon, c.lat, c.lon)
            if d <= NEAR_M:
                score = 2.0 - d / NEAR_M  # nearer is likelier; any geo match beats text
                match = Match(
                    c.case_id,
                    f"same category {case.category} {d:.0f} m away",
                    c.duplicate_root or c.case_id,
                )
                if best is None or score > best[0]:
                    best = (score, match)
                continue
        if case.village_no is not None and c.village_no == case.village_no:
            mine = word_set(case.text) if mine is None else mine
            sim = jaccard(mine, words(c.text))
            if sim >= SIMILAR_TEXT and (best is None or sim > best[0]):
                best = (
                    sim,
                    Match(
                        c.case_id,
                        f"same หมู่ที่ {case.village_no}, similar words ({sim:.2f})",
                        c.duplicate_root or c.case_id,
                    ),
                )
    return best[1] if best else None
