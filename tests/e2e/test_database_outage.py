"""A 30-second database outage in the middle of a stream: nothing lost, nothing
dead-lettered, nothing doubled. The consumers wait it out (transient faults are retried
with backoff, holding their partitions) and carry on when the database is back."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from deploy.local import stack
from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.kafka import client_options, topic_name
from shared.mongo import create_client
from shared.topics import Topic
from tests.conftest import eventually, running

pytestmark = pytest.mark.e2e

BEFORE, DURING = 20, 40
OUTAGE_SECONDS = 30.0


def raw(n: int) -> bytes:
    return RawPayloadReceived(
        org_id="sraphonthong",
        payload=RawPayloadReceivedPayload(
            channel="web",
            received_at=datetime.now(UTC),
            body=f'{{"text": "ถนนชำรุด จุดที่ {n} หมู่ที่ {1 + n % 9}"}}',
            channel_message_id=f"outage-{n}",
        ),
    ).to_bytes()


def dead_lettered(registry: CollectorRegistry) -> float:
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "ruam_dead_lettered"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_a_30_second_database_outage_loses_and_dead_letters_nothing(
    real_settings: Any,
) -> None:
    profile: stack.Profile = stack.get_profile("test")
    intake_settings: IntakeSettings = real_settings(IntakeSettings)
    routing_settings: RoutingSettings = real_settings(
        RoutingSettings,
        mongodb_database=intake_settings.mongodb_database,
        topic_prefix=intake_settings.topic_prefix,
    )
    intake, routing = create_intake(intake_settings), create_routing(routing_settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=intake_settings.kafka_bootstrap_servers,
        **client_options(intake_settings),
    )
    client = create_client(intake_settings.mongodb_url, app_name="test")
    cases = client[intake_settings.mongodb_database]["cases"]
    topic = topic_name(intake_settings, Topic.INTAKE_RAW)
    await producer.start()
    try:
        async with running(intake), running(routing):
            for n in range(BEFORE):
                await producer.send_and_wait(topic, raw(n), key=f"outage-{n}".encode())
            # Stop the database while those are still on their way.
            await asyncio.to_thread(stack.stop_component, profile, "ferretdb")
            stopped = time.monotonic()
            for n in range(BEFORE, BEFORE + DURING):
                await producer.send_and_wait(topic, raw(n), key=f"outage-{n}".encode())
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
            await asyncio.to_thread(stack.start_ferretdb, profile)

            async def all_assigned() -> bool:
                return await cases.count_documents({"status": "assigned"}) >= BEFORE + DURING

            await eventually(all_assigned, timeout=240, interval=1.0)
            docs = [d async for d in cases.find({}, {"channel_message_id": 1})]
            assert len(docs) == BEFORE + DURING  # nothing doubled
            assert {d["channel_message_id"] for d in docs} == {
                f"outage-{n}" for n in range(BEFORE + DURING)
            }
            assert dead_lettered(intake.runtime.registry) == 0
            assert dead_lettered(routing.runtime.registry) == 0
    finally:
        if not stack.mongo_ping(profile.mongo_port):
            await asyncio.to_thread(stack.start_ferretdb, profile)
        await producer.stop()
        await client.close()
