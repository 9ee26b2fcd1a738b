"""What an aggregate's outbox holds (`Emission`), and the loops that drain it.

The outbox itself lives in the aggregate document and is written and flushed by
`shared.store.AggregateStore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.events.envelope import Envelope
from shared.mongo import Document
from shared.topics import Topic

log = logging.getLogger("ruam.outbox")


RawMessage = tuple[Topic | str, str | None, bytes]


class RawPublisher(Protocol):
    async def publish_raw(self, topic: Topic | str, key: str | None, value: bytes) -> None: ...

    async def publish_all(
        self, messages: Sequence[RawMessage], *, parent: str | None = None
    ) -> None:
        """Publish all, in order per key; returns once every one is acknowledged.
        `parent`: the traceparent of the span that decided them, if not the current one."""


@dataclass(frozen=True)
class Emission:
    """An event a handler decided to publish, under `key`, on the topic its class declares.

    Build it with `Emission.of`."""

    event: Envelope[Any]
    key: str | None

    @classmethod
    def of(cls, event: Envelope[Any], *, key: str | None = None) -> Emission:
        """`key` overrides the payload field the event's class is keyed by; an event whose
        class names no such field (a raw payload) must be given one."""
        return cls(event, event.partition_key() if key is None else key)

    @property
    def topic(self) -> Topic:
        return self.event.topic

    def to_item(self) -> Document:
        return {
            "topic": self.topic.value,
            "key": self.key,
            "event_id": str(self.event.event_id),
            "value": self.event.model_dump_json(),
        }


def periodic(
    work: Callable[[], Awaitable[int]], interval: float, what: str, *, first_after: float = 0.0
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A background loop: run `work` every `interval` seconds until stopped; log what it did.

    `first_after` delays the first run (when start-up already did that work)."""

    async def loop(stop: asyncio.Event) -> None:
        if first_after > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=first_after)
        while not stop.is_set():
            try:
                done = await work()
                if done:
                    log.info("%s: %d", what, done)
            except Exception:  # keep going; the next round retries
                log.exception("%s failed", what)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    return loop


def relay_loop(
    sweep: Callable[[], Awaitable[int]], interval: float
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A background loop that publishes whatever a crash left in outboxes."""
    return periodic(sweep, interval, "outbox relay published pending event(s)")
