"""A bench run's topics go when it ends, and only those (shared.kafka.delete_topics)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import client_options, delete_topics, ensure_topics
from shared.settings import ServiceSettings
from shared.topics import Topic, name
from tests.conftest import eventually

pytestmark = pytest.mark.integration


async def test_delete_topics_takes_the_prefix_and_nothing_else(real_settings: Any) -> None:
    settings = real_settings(ServiceSettings)
    # A namespace whose name starts like this one's, without its dot: not under the prefix.
    neighbour = settings.model_copy(update={"topic_prefix": settings.topic_prefix[:-1] + "x."})
    mine = [Topic.CASE_RECEIVED, Topic.CASE_ASSIGNED]
    await ensure_topics(settings, mine)
    await ensure_topics(neighbour, [Topic.CASE_RECEIVED])
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **client_options(settings)
    )
    await admin.start()
    try:
        assert await delete_topics(settings.topic_prefix, settings) == 2

        async def gone() -> bool:
            left = set(await admin.list_topics())
            return not any(t.startswith(settings.topic_prefix) for t in left)

        assert await eventually(gone, timeout=30)
        assert name(Topic.CASE_RECEIVED, neighbour.topic_prefix) in await admin.list_topics()
        # Asked again, nothing is left to go.
        assert await delete_topics(settings.topic_prefix, settings) == 0
    finally:
        await delete_topics(neighbour.topic_prefix, settings)
        await admin.close()


async def test_delete_topics_refuses_an_empty_prefix() -> None:
    with pytest.raises(ValueError, match="every topic"):
        await delete_topics("")
