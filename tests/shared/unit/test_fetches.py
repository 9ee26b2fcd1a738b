"""shared.kafka takes a consumer's records a fetch at a time: the dead-letter middleware
hands each record of a fetch to the subscription's handler as if it had come alone, and a
subscription asks again at once after a wait that brought nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream._internal.context import ContextRepo
from faststream.kafka.message import KafkaMessage
from faststream.message import AckStatus, StreamMessage
from pydantic import BaseModel

from shared.kafka import dead_letter_middleware, take_all_fetched
from tests.shared.unit.test_dead_letters import policy as dead_letter_policy

TOPIC = "t.case.received"


class Consumer(AIOKafkaConsumer):  # type: ignore[misc]
    """Owns partitions 0 and 1 of TOPIC, records what it is asked to commit, and hands
    out the fetches it is given."""

    def __init__(self, fetches: list[dict[TopicPartition, list[Any]]] | None = None) -> None:
        super().__init__(bootstrap_servers="127.0.0.1:1")
        self.commits: list[dict[TopicPartition, int]] = []
        self.fetches = fetches or []
        self.waits: list[int] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)}

    async def commit(self, offsets: Any = None) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    async def getmany(self, *partitions: Any, timeout_ms: int = 0, **_: Any) -> Any:
        self.waits.append(timeout_ms)
        return self.fetches.pop(0) if self.fetches else {}


def record(offset: int, key: str, body: bytes, partition: int = 0) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        TOPIC, partition, offset, 0, 0, key.encode(), body, None, len(key), len(body), []
    )


class Report(BaseModel):
    case_id: str


async def test_each_record_of_a_fetch_is_handled_dead_lettered_and_committed_on_its_own() -> None:
    consumer = Consumer()
    policy, broker = dead_letter_policy(concurrency=8)
    handled: list[str] = []

    async def handle(msg: StreamMessage[Any]) -> None:
        report = Report.model_validate_json(msg.body)
        await asyncio.sleep(0.01 if report.case_id == "A-1" else 0)  # A-1 finishes last
        handled.append(report.case_id)

    policy.handlers[TOPIC] = handle
    records = (
        record(10, "A", b'{"case_id": "A-1"}'),
        record(11, "A", b'{"case_id": "A-2"}'),
        record(12, "B", b"not json"),
        record(5, "C", b'{"case_id": "C-1"}', partition=1),
    )
    fetch = KafkaMessage(body=[r.value for r in records], raw_message=records, consumer=consumer)

    async def never(_msg: Any) -> None:
        raise AssertionError("a fetch is not decoded as one message")

    middleware = dead_letter_middleware(policy)(fetch, context=ContextRepo())
    await middleware.consume_scope(never, fetch)
    assert fetch.committed is AckStatus.ACKED  # FastStream commits nothing itself
    await asyncio.wait_for(policy.pipeline.drain(timeout=5), 10)

    assert handled.index("A-1") < handled.index("A-2")  # one key's records in order
    assert sorted(handled) == ["A-1", "A-2", "C-1"]
    (letter,) = broker.sent
    assert letter["body"] == b"not json" and letter["key"] == b"B"
    assert letter["headers"]["x-dlq-offset"] == "12"
    assert letter["headers"]["x-dlq-reason"].startswith("invalid event")
    await policy.offsets.commit()
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 13, TopicPartition(TOPIC, 1): 6}]


async def test_a_subscription_takes_all_a_fetch_brought_and_asks_again_without_a_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Subscriber:
        get_msg: Any

    async def no_pause(*_: Any) -> None:
        raise AssertionError("slept after an empty wait")

    monkeypatch.setattr(anyio, "sleep", no_pause)
    monkeypatch.setattr(asyncio, "sleep", no_pause)
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    consumer = Consumer(
        [
            {},
            {
                p0: [record(1, "A", b"a"), record(2, "A", b"b")],
                p1: [record(7, "C", b"c", partition=1)],
            },
        ]
    )
    subscriber = Subscriber()
    take_all_fetched(subscriber, 5000)
    assert await subscriber.get_msg(consumer) == ()  # nothing came within the wait
    taken = await subscriber.get_msg(consumer)
    assert [(r.partition, r.offset) for r in taken] == [(0, 1), (0, 2), (1, 7)]
    assert consumer.waits == [5000, 5000]
    take_all_fetched(subscriber, 0)  # a fetch wait of 0 must not make a busy loop
    assert await subscriber.get_msg(consumer) == ()
    assert consumer.waits[-1] == 100
