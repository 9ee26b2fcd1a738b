"""Hand-written fakes shared by the unit and messaging tests (no mocks)."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from faststream.kafka import KafkaMessage

from shared.errors import ConcurrencyError
from shared.outbox import Emission
from shared.topics import Topic


@dataclass
class Published:
    topic: str
    key: str | None
    value: bytes

    def json(self) -> Any:
        return json.loads(self.value)


@dataclass
class FakePublisher:
    """Records what would have gone to Kafka; can be told to fail, like a broker outage."""

    sent: list[Published] = field(default_factory=list)
    fail_next: int = 0
    # The traceparent each publish_all was given, in order (None: the current span's).
    parents: list[str | None] = field(default_factory=list)

    async def publish_all(
        self,
        messages: Sequence[tuple[Topic | str, str | None, bytes]],
        *,
        parent: str | None = None,
    ) -> None:
        self.parents.append(parent)
        for topic, key, value in messages:
            await self.publish_raw(topic, key, value)

    async def publish_raw(self, topic: Topic | str, key: str | None, value: bytes) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("fake broker unavailable")
        self.sent.append(
            Published(str(topic.value if isinstance(topic, Topic) else topic), key, value)
        )

    def on(self, topic: Topic) -> list[Any]:
        return [p.json() for p in self.sent if p.topic == topic.value]


class OutboxStore:
    """In-memory twin of shared.store.AggregateStore: the same version rules (every
    save is one version step; publishing is none)."""

    def __init__(self, publisher: FakePublisher) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}
        self.publisher = publisher

    def save(
        self, key: Any, value: Any, expected_version: int, emissions: Sequence[Emission]
    ) -> int:
        current = self.docs.get(key)
        if expected_version == 0 and current is not None:
            raise ConcurrencyError(f"{key} exists")
        if expected_version and (current is None or current["version"] != expected_version):
            raise ConcurrencyError(f"{key} moved")
        outbox = list(current["outbox"]) if current else []
        outbox += [e.to_item() for e in emissions]
        self.docs[key] = {
            "value": copy.deepcopy(value),
            "version": expected_version + 1,
            "outbox": outbox,
        }
        return expected_version + 1

    def load(self, key: Any) -> Any:
        doc = self.docs.get(key)
        return copy.deepcopy(doc["value"]) if doc else None

    async def flush(self, key: Any) -> int:
        doc = self.docs.get(key)
        if not doc or not doc["outbox"]:
            return 0
        items = list(doc["outbox"])
        for item in items:
            await self.publisher.publish_raw(item["topic"], item["key"], item["value"].encode())
        doc["outbox"] = []  # published: no version step, as in the real store
        return len(items)

    async def sweep(self) -> int:
        return sum([await self.flush(k) for k in list(self.docs)])


def dead_letters(service: Any) -> list[tuple[bytes, dict[str, str]]]:
    """What `service` (a `shared.service.Service`) dead-letters while FastStream's in-memory
    broker runs: (original bytes, headers) each, as its dead-letter topic receives them."""
    dead: list[tuple[bytes, dict[str, str]]] = []

    async def dlq(message: KafkaMessage) -> None:
        dead.append((message.body, dict(message.headers)))

    topic = Topic(f"{service.settings.service_name}.dlq")
    service.runtime.broker.subscriber(topic.value)(dlq)
    return dead
