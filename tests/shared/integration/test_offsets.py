"""Offsets are committed in rounds, and only for handled messages, on the real broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.intake.bootstrap import create_service
from services.intake.settings import IntakeSettings
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.kafka import client_options
from tests.conftest import eventually, running

pytestmark = pytest.mark.integration


async def test_handled_messages_are_committed_in_rounds(real_settings: Any) -> None:
    settings = real_settings(IntakeSettings)
    service = create_service(settings)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **client_options(settings)
    )
    await admin.start()
    try:
        async with running(service):
            for n in range(6):
                body = json.dumps({"text": f"ถนนชำรุด หมู่ {n}"})
                event = RawPayloadReceived(
                    org_id="sraphonthong",
                    payload=RawPayloadReceivedPayload(
                        channel="web",
                        content_type="application/json",
                        body=body,
                        received_at=datetime.now(UTC),
                        channel_message_id=f"raw-{n}",
                    ),
                )
                await service.runtime.publisher.publish_raw(
                    event.topic, f"raw-{n}", event.model_dump_json().encode()
                )

            async def committed() -> int | None:
                offsets = await admin.list_consumer_group_offsets(settings.group_id("intake-raw"))
                total = sum(max(o.offset, 0) for o in offsets.values())
                return total if total == 6 else None

            # Every one of the six, on whichever partitions they went: no message left out,
            # none counted twice.
            assert await eventually(committed, timeout=30) == 6
    finally:
        await admin.close()
