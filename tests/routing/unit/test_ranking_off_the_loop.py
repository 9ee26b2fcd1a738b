"""Classification runs on its own threads, bounded to the opening words: a slow ranking never
holds up routing's other messages. Asserted on the order things finish, not on timing."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from services.routing.domain.classifier import MAX_CLASSIFIED_CHARS
from services.routing.handlers import RoutingHandlers
from shared.clock import FixedClock
from shared.events.cases import CaseReceived, CaseReceivedPayload
from tests.routing.fakes import FakeRanker, make_handlers

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
SLOW = "ช้า"
# Long enough that a test stuck on the old code fails rather than hangs.
GIVE_UP_SECONDS = 5.0


def received(case_id: str, text: str) -> CaseReceived:
    payload = {
        "case_id": case_id,
        "channel": "web",
        "kind": "complaint",
        "text": text,
        "original_text": text,
        "received_at": NOW - timedelta(hours=1),
    }
    return CaseReceived(org_id="sraphonthong", payload=CaseReceivedPayload.model_validate(payload))


class GatedRanker(FakeRanker):
    """Ranks a text holding SLOW only once the test opens the gate; the others at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.outcomes: list[str] = []
        self.lengths: list[int] = []
        self.threads: set[str] = set()

    def rank(self, text: str | None, top_k: int = 5) -> Any:
        self.lengths.append(len(text or ""))
        self.threads.add(threading.current_thread().name)
        if SLOW in (text or ""):
            opened = self.gate.wait(GIVE_UP_SECONDS)
            self.outcomes.append("released" if opened else "gave up")
        return super().rank(text, top_k)


def handlers(ranker: GatedRanker) -> RoutingHandlers:
    h, _ = make_handlers(FixedClock(NOW))
    assert isinstance(h, RoutingHandlers)
    h.ranker = ranker
    return h


async def test_a_slow_classification_does_not_stall_the_next_message() -> None:
    ranker = GatedRanker()
    h = handlers(ranker)
    finished: list[str] = []

    async def slow() -> None:
        await h.on_case_received(received("SPT-2569-000001", SLOW + "1" * 20_000))
        finished.append("slow")

    async def fast() -> None:
        await h.on_case_received(received("SPT-2569-000002", "ไฟถนนดับ"))
        finished.append("fast")
        ranker.gate.set()  # only now may the slow one finish

    await asyncio.gather(slow(), fast())
    assert finished == ["fast", "slow"]
    assert ranker.outcomes == ["released"]  # not "gave up": the loop was never blocked
    assert ranker.lengths == [MAX_CLASSIFIED_CHARS, len("ไฟถนนดับ")]  # the bound still holds
    assert threading.current_thread().name not in ranker.threads


async def test_the_preview_endpoint_ranks_off_the_loop_too() -> None:
    ranker = GatedRanker()
    h = handlers(ranker)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not ranker.gate.is_set():
            ticks += 1
            if ticks == 3:
                ranker.gate.set()
            await asyncio.sleep(0)

    preview, _ = await asyncio.gather(h.preview(SLOW, "complaint", None), ticker())
    assert ranker.outcomes == ["released"] and ticks >= 3
    assert preview["categories"]
