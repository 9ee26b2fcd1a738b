"""Reading whole topics, from their start to their end as it is now: how the tools (the demo,
the PII scan) look at what went over the bus, as an outside reader would."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from shared.topics import SPECS, of_name


async def read_to_end(
    bootstrap: str, topics: Iterable[str], timeout: float = 60.0, **client: Any
) -> dict[str, list[Any]]:
    """Every record of `topics` (full names; those that do not exist are skipped), by topic.
    `client` is passed to the consumer (credentials; by default the tools' own)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from shared.kafka import client_options

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **(client or client_options())
    )
    out: dict[str, list[Any]] = {}
    await consumer.start()
    try:
        existing = await consumer.topics()
        ours = {full: of_name(full) for full in set(topics) if full in existing}
        wanted = {full: topic for full, topic in sorted(ours.items()) if topic is not None}
        # Partitions as Ruam creates them (shared/topics.py): a consumer that is assigned
        # partitions, not subscribed, does not learn a topic's partitions by itself.
        parts = [
            TopicPartition(full, p)
            for full, topic in wanted.items()
            for p in range(SPECS[topic].partitions)
        ]
        if not parts:
            return out
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        reached = dict(await consumer.beginning_offsets(parts))
        deadline = time.monotonic() + timeout
        while any(reached[p] < ends[p] for p in parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not read to their end within {timeout:.0f} s")
            for part, records in (await consumer.getmany(timeout_ms=1000)).items():
                out.setdefault(part.topic, []).extend(records)
                reached[part] = records[-1].offset + 1
    finally:
        await consumer.stop()
    return out
