"""shared.kafka's KeyedPipeline and OffsetBook: a consumer's messages handled at once, one
key's in order, and a partition committed only up to its oldest message under way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.message import StreamMessage

from shared.kafka import KeyedPipeline, OffsetBook

TOPIC = "t.case.received"


class Consumer(AIOKafkaConsumer):  # type: ignore[misc]
    """A consumer that owns partition 0 and 1 and records what it was asked to commit."""

    def __init__(self) -> None:
        super().__init__(bootstrap_servers="127.0.0.1:1")
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)}

    async def commit(self, offsets: Any = None) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None


@dataclass
class Message:
    consumer: Consumer
    raw_message: Record
    committed: Any = None


def message(
    consumer: Consumer, offset: int, key: str | None, partition: int = 0, topic: str = TOPIC
) -> Any:
    record = Record(topic, partition, offset, key.encode() if key else None)
    return cast("StreamMessage[Any]", Message(consumer, record))


class Work:
    """Handlers that say when they start and finish, and wait for a gate of their own."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    def of(self, name: str, *, held: bool = False) -> Any:
        if held:
            self.gates[name] = asyncio.Event()

        async def run() -> None:
            self.log.append(f"start {name}")
            if name in self.gates:
                await self.gates[name].wait()
            self.log.append(f"end {name}")

        return run


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_one_keys_messages_wait_for_each_other_while_other_keys_go_ahead() -> None:
    consumer, book, work = Consumer(), OffsetBook(), Work()
    pipeline = KeyedPipeline(book, limit=10, backoff_cap=0.01)
    await pipeline.submit(message(consumer, 0, "A"), work.of("A0", held=True))
    await pipeline.submit(message(consumer, 1, "B"), work.of("B1"))
    await pipeline.submit(message(consumer, 2, "A"), work.of("A2"))
    await pipeline.submit(message(consumer, 3, "B"), work.of("B3"))
    await settle()
    assert work.log == ["start A0", "start B1", "end B1", "start B3", "end B3"]
    work.gates["A0"].set()
    await pipeline.drain(timeout=1)
    assert work.log[-3:] == ["end A0", "start A2", "end A2"]


async def test_a_partition_is_committed_only_up_to_its_oldest_message_under_way() -> None:
    consumer, book, work = Consumer(), OffsetBook(), Work()
    pipeline = KeyedPipeline(book, limit=10, backoff_cap=0.01)
    await pipeline.submit(message(consumer, 10, "A"), work.of("A10"))
    await pipeline.submit(message(consumer, 11, "B"), work.of("B11", held=True))
    await pipeline.submit(message(consumer, 12, "C"), work.of("C12"))
    await pipeline.submit(message(consumer, 5, "D", partition=1), work.of("D5"))
    await settle()
    await book.commit()
    # 12 is done but 11 is not: partition 0 stops at 11; partition 1 is clear.
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 11, TopicPartition(TOPIC, 1): 6}]
    await book.commit()
    assert len(consumer.commits) == 1  # nothing new: no request
    work.gates["B11"].set()
    await settle()
    await book.commit()
    assert consumer.commits[-1] == {TopicPartition(TOPIC, 0): 13}


async def test_unkeyed_messages_of_a_partition_go_one_after_the_other() -> None:
    consumer, book, work = Consumer(), OffsetBook(), Work()
    pipeline = KeyedPipeline(book, limit=10, backoff_cap=0.01)
    await pipeline.submit(message(consumer, 0, None), work.of("x0", held=True))
    await pipeline.submit(message(consumer, 1, None), work.of("x1"))
    await settle()
    assert work.log == ["start x0"]
    work.gates["x0"].set()
    await pipeline.drain(timeout=1)
    assert work.log == ["start x0", "end x0", "start x1", "end x1"]


async def test_no_more_than_the_limit_are_under_way_and_the_consumer_waits() -> None:
    consumer, book, work = Consumer(), OffsetBook(), Work()
    pipeline = KeyedPipeline(book, limit=2, backoff_cap=0.01)
    await pipeline.submit(message(consumer, 0, "A"), work.of("A", held=True))
    await pipeline.submit(message(consumer, 1, "B"), work.of("B", held=True))
    third = asyncio.ensure_future(pipeline.submit(message(consumer, 2, "C"), work.of("C")))
    await settle()
    assert not third.done()  # the consumer takes nothing more until a slot frees
    assert pipeline.in_flight == 2
    work.gates["A"].set()
    await settle()
    assert third.done()
    work.gates["B"].set()
    await pipeline.drain(timeout=1)
    assert "end C" in work.log


async def test_messages_waiting_on_another_topic_never_take_its_slots() -> None:
    # Found in make demo: LINE follow-ups (case.amended) retried until their case is routed
    # took every slot of routing's one limit, so the case.received they waited for was
    # never taken.
    consumer, book, work = Consumer(), OffsetBook(), Work()
    pipeline = KeyedPipeline(book, limit=2, backoff_cap=0.01)
    amended = "t.case.amended"
    await pipeline.submit(message(consumer, 0, "A", topic=amended), work.of("A1", held=True))
    await pipeline.submit(message(consumer, 1, "B", topic=amended), work.of("B1", held=True))
    received = asyncio.ensure_future(pipeline.submit(message(consumer, 0, "A"), work.of("A0")))
    await settle()
    assert received.done() and "end A0" in work.log
    third = asyncio.ensure_future(
        pipeline.submit(message(consumer, 2, "C", topic=amended), work.of("C1"))
    )
    await settle()
    assert not third.done()  # the limit still holds within a topic
    work.gates["A1"].set()
    work.gates["B1"].set()
    await pipeline.drain(timeout=1)
    assert "end C1" in work.log


async def test_a_failure_outside_the_handler_is_retried_and_holds_its_offset() -> None:
    consumer, book = Consumer(), OffsetBook()
    pipeline = KeyedPipeline(book, limit=10, backoff_cap=0.001)
    tries = 0

    async def flaky() -> None:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise ConnectionError("dead-letter topic away")

    await pipeline.submit(message(consumer, 7, "A"), flaky)
    await pipeline.drain(timeout=5)
    assert tries == 3
    await book.commit()
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 8}]


async def test_at_shutdown_what_does_not_finish_in_time_is_left_uncommitted() -> None:
    consumer, book, work = Consumer(), OffsetBook(), Work()
    pipeline = KeyedPipeline(book, limit=10, backoff_cap=0.01)
    await pipeline.submit(message(consumer, 0, "A"), work.of("A0"))
    await pipeline.submit(message(consumer, 1, "B"), work.of("B1", held=True))
    await pipeline.drain(timeout=0.05)
    await book.commit()
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 1}]  # B1 is redelivered
    late = asyncio.ensure_future(pipeline.submit(message(consumer, 2, "C"), work.of("C")))
    await settle()
    assert not late.done() and "start C" not in work.log  # nothing new is taken
    late.cancel()


async def test_acknowledged_so_faststream_does_not_commit_everything_fetched() -> None:
    consumer, book, work = Consumer(), OffsetBook(), Work()
    pipeline = KeyedPipeline(book, limit=10, backoff_cap=0.01)
    msg = message(consumer, 0, "A")
    await pipeline.submit(msg, work.of("A", held=True))
    assert msg.committed is not None  # before its handler is done
    work.gates["A"].set()
    await pipeline.drain(timeout=1)
