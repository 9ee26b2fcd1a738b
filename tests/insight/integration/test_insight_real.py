"""Insight on the real Kafka broker and FerretDB: the figures built one event at a time
equal a full recomputation from the raw events, after the service was killed mid-stream
(SIGKILL, then started again) and after every topic was replayed."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from services.insight.bootstrap import create_service
from services.insight.domain import rules
from services.insight.settings import InsightSettings
from shared.kafka import client_options, topic_name
from shared.mongo import Document
from tests.conftest import eventually, running
from tests.insight.builders import ORG, Event, history_events, random_events
from tools import processes
from tools.demo.stages.history import plant

pytestmark = pytest.mark.integration

LOGS = Path(__file__).resolve().parents[3] / ".run" / "test" / "logs"


def counted(service: Any, name: str) -> int:
    total = 0
    for metric in service.runtime.registry.collect():
        for s in metric.samples:
            if s.name == name:
                total += int(s.value)
    return total


async def publish(settings: InsightSettings, events: list[Event]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        **client_options(settings),
    )
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic_name(settings, e.topic), e.to_bytes(), key=e.partition_key().encode()
            )
            for e in events
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def env_of(settings: InsightSettings, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "RUAM_ENV": "dev",
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "KAFKA_SASL_PASSWORD": settings.kafka_sasl_password,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DATABASE": settings.mongodb_database,
        "RUAM_TOPIC_PREFIX": settings.topic_prefix,
        "RUAM_RETRY_BACKOFF_SECONDS": "0.05",
        "INSIGHT_HTTP_PORT": str(port),
    }


async def test_killed_mid_stream_restarted_and_replayed_equals_recompute(
    real_settings: Any, isolation: str
) -> None:
    settings: InsightSettings = real_settings(InsightSettings)
    events = random_events(50, seed=11) + history_events(plant(date(2026, 3, 1)))
    cases = len({rules.case_of(e) for e in events})
    expected = rules.recompute(events)

    # Half the stream comes before the kill and half after. The service stores cases in
    # batches, so with the whole stream published first, a fast minute could see it all
    # done before the kill.
    half = len(events) // 2
    first, rest = events[:half], events[half:]
    assert {rules.case_of(e) for e in rest} - {rules.case_of(e) for e in first}

    # 1. A service process of its own, killed (SIGKILL) while it works through the stream.
    port = processes.free_port()
    log = LOGS / f"insight-{isolation}.log"
    process = processes.spawn("insight", env_of(settings, port), log)
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    db = client[settings.mongodb_database]
    try:
        await asyncio.to_thread(
            processes.wait_healthy, "insight", process, f"http://127.0.0.1:{port}", log
        )
        await publish(settings, first)

        async def some_done() -> bool:
            return await db["insight_cases"].count_documents({}) > 0

        await eventually(some_done, timeout=180, interval=0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    seen_at_kill = await db["insight_cases"].count_documents({})
    assert seen_at_kill < cases, "the stream was over before the kill: not mid-stream"

    # 2. Started again (in-process): it goes on from the committed offsets, and what the
    # kill interrupted is finished exactly once; then comes the rest of the stream.
    service = create_service(settings)
    async with running(service):
        await publish(settings, rest)

        async def caught_up() -> bool:
            return await service.handlers.stored_figures(ORG) == expected

        await eventually(caught_up, timeout=300, interval=0.5)
        assert not [d async for d in db["insight_cases"].find({"pending.0": {"$exists": True}})]

        # 3. Every topic replayed from the start: the same events, the same figures.
        finished = counted(service, "ruam_messages_finished_total")
        duplicates = counted(service, "ruam_insight_duplicates_total")
        await publish(settings, events)

        async def replayed() -> bool:
            return counted(service, "ruam_messages_finished_total") >= finished + len(events)

        await eventually(replayed, timeout=300, interval=0.5)
        assert counted(service, "ruam_insight_duplicates_total") - duplicates >= len(events)
        assert await service.handlers.stored_figures(ORG) == expected
        checked = await service.handlers.check(ORG)  # the operators' check agrees
        assert checked["equal"] and checked["cases"] == cases, checked

        # The analysis over HTTP reads the same figures.
        until = datetime(2026, 3, 1, tzinfo=UTC).date().isoformat()
        from tests.signing import AUDITOR

        r = await service_client_get(service, f"/v1/insight/hotspots?until={until}", AUDITOR)
        assert any(h["category"] == "road" and h["reports"] == 8 for h in r["hotspots"])
    await client.close()


async def service_client_get(service: Any, path: str, headers: dict[str, str]) -> Any:
    import httpx

    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as c:
        r = await c.get(path, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()
