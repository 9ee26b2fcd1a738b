"""A dead letter is replayed through the subscription that refused it, in its process: after
a fix it takes effect once; still broken, it is refused with the reason and kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from shared.clock import FixedClock
from shared.dead_letters import DeadLetterOffice, NotReplayable
from shared.errors import PermanentError
from tests.fakes import FakePublisher

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOPIC = "t1.case.assigned"


class Letters:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def keep(self, letter: dict[str, Any]) -> bool:
        if letter["_id"] in self.docs:
            return False
        self.docs[letter["_id"]] = letter
        return True

    async def get(self, letter_id: str) -> dict[str, Any] | None:
        return self.docs.get(letter_id)

    async def list(self, limit: int, offset: int) -> list[dict[str, Any]]:
        return list(self.docs.values())[offset : offset + limit]

    async def mark_replayed(self, letter_id: str, at: datetime) -> None:
        self.docs[letter_id]["replays"].append(at)


def office(handled: list[bytes], *, broken: bool) -> tuple[DeadLetterOffice, Letters]:
    async def consumer(body: bytes) -> None:
        if broken:
            raise PermanentError("officer eng-99 is not in the directory")
        handled.append(body)

    letters = Letters()
    return (
        DeadLetterOffice(
            letters,
            FakePublisher(),
            FixedClock(NOW),
            service="intake",
            registry=CollectorRegistry(),
            replayers={TOPIC: consumer},
        ),
        letters,
    )


async def kept(office: DeadLetterOffice) -> str:
    headers = {"x-dlq-source-topic": TOPIC, "x-dlq-partition": "0", "x-dlq-offset": "7"}
    await office.keep(b'{"event": 1}', headers, b"SPT-2569-000001", "t1.intake.dlq:0:3")
    (letter_id,) = [str(d["_id"]) for d in await office.store.list(10, 0)]
    return letter_id


async def test_a_fixed_cause_replays_once_and_a_second_replay_is_refused() -> None:
    handled: list[bytes] = []
    post, letters = office(handled, broken=False)
    letter_id = await kept(post)
    replayed = await post.replay(letter_id)
    assert replayed is not None and handled == [b'{"event": 1}']
    assert letters.docs[letter_id]["replays"] == [NOW]
    with pytest.raises(NotReplayable, match="already replayed"):
        await post.replay(letter_id)
    await post.replay(letter_id, again=True)  # asked for: the handler's idempotency absorbs it
    assert len(handled) == 2


async def test_a_letter_still_broken_is_refused_with_its_reason_and_kept() -> None:
    post, letters = office([], broken=True)
    letter_id = await kept(post)
    with pytest.raises(NotReplayable, match="refused again: PermanentError: officer eng-99"):
        await post.replay(letter_id)
    assert letters.docs[letter_id]["replays"] == []


async def test_a_letter_of_a_topic_nobody_here_reads_cannot_be_replayed() -> None:
    post, letters = office([], broken=False)
    letter_id = await kept(post)
    letters.docs[letter_id]["source_topic"] = "t1.survey.responded"
    with pytest.raises(NotReplayable, match="no subscription"):
        await post.replay(letter_id)
    assert await post.replay("no-such-letter") is None
