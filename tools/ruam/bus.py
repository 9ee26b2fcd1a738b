"""`ruam replay`: a range of a topic fed again to its consumers.

The records from a starting offset (or the first at or after a time) up to the end as it is
when the replay starts (or a given end) are published again to the same topic, with their
key, value and headers and a header naming where each came from. Every consumer group of
the topic sees them again; consumers are idempotent by event id and channel message id
(README, "Nothing lost, nothing doubled"), so what they already handled has no second
effect, and what they missed (a handler fixed since, a projection rebuilt) is applied.
Resetting a group's offsets instead would need the service stopped: Kafka refuses offset
changes for a group with members.

Tools connect as Kafka's admin on the dev stack (`shared.kafka.client_options`, the
KAFKA_* variables `stack.py env` prints).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.topics import SPECS, Topic, name

REPLAYED_FROM = "x-ruam-replayed-from"


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a range starts or ends: an offset in every partition, or a time."""

    offset: int | None = None
    at: datetime | None = None

    @classmethod
    def parse(cls, text: str) -> Position:
        """`1200` (an offset), or an ISO 8601 time with its zone (`2026-12-01T03:00+07:00`)."""
        if text.strip().lstrip("-").isdigit():
            offset = int(text)
            if offset < 0:
                raise ValueError("an offset is 0 or more")
            return cls(offset=offset)
        at = datetime.fromisoformat(text.strip())
        if at.tzinfo is None:
            raise ValueError(f"{text!r}: give the time's zone (+07:00 for Bangkok, Z for UTC)")
        return cls(at=at)


@dataclasses.dataclass
class PartitionRange:
    partition: int
    start: int
    end: int  # exclusive

    @property
    def count(self) -> int:
        return max(0, self.end - self.start)


def topic_of(text: str) -> Topic:
    try:
        topic = Topic(text)
    except ValueError:
        raise ValueError(f"no topic {text!r}; one of {', '.join(t.value for t in Topic)}") from None
    if topic.value.endswith(".dlq"):
        raise ValueError("dead letters are replayed one by one: ruam dlq replay")
    return topic


async def plan(
    consumer: Any,
    full_name: str,
    partitions: list[int],
    start: Position,
    end: Position | None,
) -> list[PartitionRange]:
    """Each partition's range: from `start` (clamped to what the log still holds) to `end`
    or the log's end now."""
    from aiokafka import TopicPartition

    parts = [TopicPartition(full_name, p) for p in partitions]
    first = await consumer.beginning_offsets(parts)
    last = await consumer.end_offsets(parts)

    async def resolve(position: Position, default: dict[Any, int]) -> dict[Any, int]:
        if position.offset is not None:
            return {tp: position.offset for tp in parts}
        assert position.at is not None
        millis = int(position.at.timestamp() * 1000)
        found = await consumer.offsets_for_times({tp: millis for tp in parts})
        # No record at or after the time: the range starts (or ends) at the log's end.
        return {tp: (found[tp].offset if found.get(tp) else default[tp]) for tp in parts}

    starts = await resolve(start, last)
    ends = await resolve(end, last) if end is not None else last
    return [
        PartitionRange(
            tp.partition, max(starts[tp], first[tp]), min(max(ends[tp], first[tp]), last[tp])
        )
        for tp in parts
    ]


async def replay(
    bootstrap: str,
    topic: Topic,
    start: Position,
    end: Position | None = None,
    *,
    partitions: list[int] | None = None,
    prefix: str | None = None,
    dry_run: bool = False,
    planned: Callable[[list[PartitionRange]], None] = lambda ranges: None,
    progress: Callable[[int], None] = lambda n: None,
    **client: Any,
) -> list[PartitionRange]:
    """Publish the range again; `planned` hears the ranges first, `progress` each record.
    Returns the ranges (nothing is published when `dry_run`)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from shared.kafka import client_options

    options = client or client_options()
    full = name(topic, os.environ.get("RUAM_TOPIC_PREFIX", "") if prefix is None else prefix)
    wanted = partitions if partitions is not None else list(range(SPECS[topic].partitions))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        existing = await consumer.topics()
        if full not in existing:
            raise ValueError(f"topic {full} does not exist on {bootstrap}")
        ranges = [r for r in await plan(consumer, full, wanted, start, end) if r.count]
        planned(ranges)
        if dry_run or not ranges:
            return ranges
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **options
        )
        await producer.start()
        try:
            for r in ranges:
                tp = TopicPartition(full, r.partition)
                consumer.assign([tp])
                consumer.seek(tp, r.start)
                done = r.start  # offsets accounted for (a compacted topic has gaps)
                while done < r.end:
                    batch = (await consumer.getmany(tp, timeout_ms=2000)).get(tp, [])
                    if not batch:
                        # Nothing more to fetch below the end: the rest was compacted away.
                        if await consumer.position(tp) >= r.end:
                            break
                        continue
                    records = [rec for rec in batch if rec.offset < r.end]
                    # The same partition, by an idempotent producer: records of one key stay
                    # in their order. Sent as a batch, acknowledged together.
                    sent = [
                        await producer.send(
                            full,
                            rec.value,
                            key=rec.key,
                            partition=r.partition,
                            headers=[*(rec.headers or ()), (REPLAYED_FROM, _origin(rec).encode())],
                        )
                        for rec in records
                    ]
                    await asyncio.gather(*sent)
                    if records:
                        progress(records[-1].offset + 1 - done)
                        done = records[-1].offset + 1
                    if len(records) < len(batch):
                        break
                if done < r.end:
                    progress(r.end - done)
        finally:
            await producer.stop()
        return ranges
    finally:
        await consumer.stop()


def _origin(record: Any) -> str:
    return f"{record.topic}:{record.partition}:{record.offset}"
