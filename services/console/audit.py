"""The console's way onto the audit trail (shared/audit.py): opening a citizen's photo, a
letter's scan or an after-photo is a read of personal data, recorded before the file is
served, as intake records a read of its vault.

The console consumes no topic, so it has no FastStream runtime; one Kafka producer, started
on the first record, carries the trail's records. Where it cannot write (the broker away,
the principal not allowed), `AuditTrail.record` refuses and the file is not shown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from shared.kafka import client_options
from shared.outbox import RawMessage
from shared.settings import ServiceSettings
from shared.topics import Topic, name

log = logging.getLogger("ruam.console.audit")


class BusPublisher:
    """`shared.outbox.RawPublisher` over one aiokafka producer, for the audit records only."""

    def __init__(self, settings: ServiceSettings, timeout_seconds: float = 5.0) -> None:
        self._settings = settings
        self._timeout = timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.kafka_bootstrap_servers,
                    client_id=f"ruam-{self._settings.service_name}",
                    acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=int(self._timeout * 1000),
                    **client_options(self._settings),
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise  # the next record tries again
                self._producer = producer
            return self._producer

    async def publish_raw(self, topic: Topic | str, key: str | None, value: bytes) -> None:
        await self.publish_all([(topic, key, value)])

    async def publish_all(
        self, messages: Sequence[RawMessage], *, parent: str | None = None
    ) -> None:
        producer = await asyncio.wait_for(self._started(), self._timeout)
        acks = []
        for topic, key, value in messages:
            target = name(topic, self._settings.topic_prefix) if isinstance(topic, Topic) else topic
            acks.append(
                await producer.send(
                    target, value=value, key=key.encode("utf-8") if key is not None else None
                )
            )
        await asyncio.wait_for(asyncio.gather(*acks), self._timeout)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
