from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.routing.domain.duplicates import Candidate, haversine_m, likely_duplicate
from services.routing.domain.model import Case, CategoryScore
from shared.clock import FixedClock
from shared.topics import Topic
from tests.routing.fakes import make_handlers
from tests.routing.unit.test_handlers import received

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def case(
    text: str = "ไฟถนนดับ",
    lat: float | None = 15.7200,
    lon: float | None = 103.5100,
    village: int | None = None,
    category: str = "lighting",
) -> Case:
    c = Case(
        case_id="SPT-2569-000010",
        org_id="sraphonthong",
        kind="complaint",
        channel="line",
        text=text,
        received_at=NOW,
        lat=lat,
        lon=lon,
        village_no=village,
    )
    c.categories = [CategoryScore(category, category, category, 0.9)]
    return c


def test_distance_is_measured_on_the_earth() -> None:
    assert 105 < haversine_m(15.72, 103.51, 15.721, 103.51) < 116  # 0.001° of latitude


def test_the_same_category_within_100_m_is_a_likely_duplicate() -> None:
    near = Candidate("SPT-2569-000003", "lighting", 15.7205, 103.5100, None, "มืดมาก")
    far = Candidate("SPT-2569-000004", "lighting", 15.7300, 103.5100, None, "ไฟถนนดับ")
    other = Candidate("SPT-2569-000005", "road", 15.7200, 103.5100, None, "ถนนพัง")
    match = likely_duplicate(case(), [far, other, near])
    assert match is not None and match.case_id == "SPT-2569-000003"
    assert "56 m away" in match.reason
    assert likely_duplicate(case(), [far, other]) is None


def test_the_same_village_with_similar_words_is_a_likely_duplicate() -> None:
    mine = case("ไฟถนนดับทั้งซอย กลางคืนมืดมาก", lat=None, lon=None, village=3)
    same = Candidate("SPT-2569-000006", "road", None, None, 3, "ไฟถนนดับทั้งซอย มืดมาก")
    different = Candidate("SPT-2569-000007", "road", None, None, 3, "ขยะไม่มีคนเก็บ")
    elsewhere = Candidate("SPT-2569-000008", "road", None, None, 4, "ไฟถนนดับทั้งซอย มืดมาก")
    match = likely_duplicate(mine, [different, elsewhere, same])
    assert match is not None and match.case_id == "SPT-2569-000006"
    assert likely_duplicate(mine, [different, elsewhere]) is None


async def test_a_new_case_is_flagged_and_officers_merge_it() -> None:
    h, repo = make_handlers(FixedClock(NOW))
    loc = {"lat": 15.72, "lon": 103.51}
    await h.on_case_received(received("SPT-2569-000001", location=loc, received_at=NOW))
    second = await h.on_case_received(
        received("SPT-2569-000002", location=loc, received_at=NOW + timedelta(minutes=5))
    )
    assert second.likely_duplicate_of == "SPT-2569-000001"
    from services.routing.domain.lifecycle import Command
    from services.routing.handlers import Actor

    merged = await h.act(
        "SPT-2569-000002",
        Command("mark_duplicate", second.officer_id, {"duplicate_of": "SPT-2569-000001"}),
        Actor(second.officer_id, "http"),
    )
    assert merged.status == "duplicate" and merged.duplicate_of == "SPT-2569-000001"
    assert (await repo.get("SPT-2569-000001")).status == "assigned"  # type: ignore[union-attr]


async def test_a_burst_handled_concurrently_sees_each_case_before_deciding_the_next() -> None:
    h, repo = make_handlers(FixedClock(NOW))
    loc = {"lat": 15.72, "lon": 103.51}
    burst = [
        received(f"SPT-2569-00000{i}", location=loc, received_at=NOW + timedelta(minutes=i))
        for i in range(1, 7)
    ]
    cases = await asyncio.gather(*(h.on_case_received(event) for event in burst))
    # Decided one after the other: all but the first see an earlier one as a duplicate,
    # and all name the same first report...
    assert [c.likely_duplicate_of is None for c in cases].count(True) == 1
    first = next(c.case_id for c in cases if c.likely_duplicate_of is None)
    assert {c.duplicate_root for c in cases} == {None, first}
    # ...and the least-loaded rule sees each assignment before the next.
    officers = [c.officer_id for c in cases]
    loads = await repo.loads()
    assert max(loads.values()) - min(loads.values()) <= 1, officers
    assert len(set(officers)) > 1, officers
    assert not repo.reserved.keys() - {c.case_id for c in repo.all()}


async def test_a_chain_of_duplicates_names_its_nearest_and_its_first_report() -> None:
    h, repo = make_handlers(FixedClock(NOW))
    # each 60 m north of the last: the third is within 100 m of the second only
    points = [{"lat": 15.72 + 0.00054 * i, "lon": 103.51} for i in range(3)]
    cases = [
        await h.on_case_received(
            received(f"SPT-2569-00002{i}", location=loc, received_at=NOW + timedelta(hours=i))
        )
        for i, loc in enumerate(points)
    ]
    # what to merge into is the nearest open report; the chain's first names the problem
    assert [c.likely_duplicate_of for c in cases] == [None, "SPT-2569-000020", "SPT-2569-000021"]
    assert [c.duplicate_root for c in cases] == [None, "SPT-2569-000020", "SPT-2569-000020"]
    # and analysis reads both from the event (case numbers, nothing personal)
    assigned = [e["payload"] for e in repo.publisher.on(Topic.CASE_ASSIGNED)]
    links = {p["case_id"]: (p["likely_duplicate_of"], p["duplicate_root"]) for p in assigned}
    assert links == {
        "SPT-2569-000020": (None, None),
        "SPT-2569-000021": ("SPT-2569-000020", "SPT-2569-000020"),
        "SPT-2569-000022": ("SPT-2569-000021", "SPT-2569-000020"),
    }


async def test_a_new_reports_words_are_read_once_on_a_ranking_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tokenizing is CPU work kept off the event loop; the duplicate check reuses what the
    # ranking tokenized, and keeps no memory of the new report's own words.
    import threading

    import services.routing.domain.classifier as classifier
    from services.routing.adapters.classifier import keyword_ranker
    from services.routing.domain.duplicates import words

    seen: list[tuple[str, str]] = []
    from pythainlp.tokenize import word_tokenize as real

    def recording(text: str, **kw: Any) -> list[str]:
        seen.append((text, threading.current_thread().name))
        return real(text, **kw)

    monkeypatch.setattr(classifier, "word_tokenize", recording)
    h, _ = make_handlers(FixedClock(NOW))
    h.ranker = keyword_ranker()
    first = "ไฟถนนดับทั้งซอย หมู่ที่ 3 กลางคืนมืดมาก"
    await h.on_case_received(received("SPT-2569-000031", text=first, original_text=first))
    second = "หมู่ที่ 3 ไฟถนนดับทั้งซอย กลางคืนมืดมากครับ"
    before = words.cache_info()
    flagged = await h.on_case_received(
        received("SPT-2569-000032", text=second, original_text=second)
    )
    assert flagged.likely_duplicate_of == "SPT-2569-000031"
    assert "similar words" in (flagged.duplicate_reason or "")
    mine = [thread for text, thread in seen if text == classifier.normalize_text(second)]
    assert len(mine) == 1 and mine[0].startswith("ruam-ranker"), seen
    assert words.cache_info().currsize <= before.currsize + 1  # the open case's words only
