"""Every service keeps its dead letters for operators: list, inspect, replay once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.compliance.bootstrap import create_service as create_compliance
from services.compliance.settings import ComplianceSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from services.survey.bootstrap import create_service as create_survey
from services.survey.settings import SurveySettings
from shared.kafka import client_options, topic_name
from shared.topics import Topic
from tests.conftest import eventually, running
from tests.signing import OPERATOR

pytestmark = pytest.mark.integration

POISON = b'{"type": "not an event", "payload": 42}'

SERVICES: list[tuple[str, Callable[..., Any], type[Any], Topic]] = [
    ("routing", create_routing, RoutingSettings, Topic.CASE_COMMANDS),
    ("survey", create_survey, SurveySettings, Topic.CASE_RESOLVED),
    ("compliance", create_compliance, ComplianceSettings, Topic.PROJECT_EVENTS),
]


@pytest.mark.parametrize(("name", "create", "settings_type", "topic"), SERVICES)
async def test_a_poison_message_is_kept_listed_inspected_and_replayed_once(
    real_settings: Any,
    name: str,
    create: Callable[..., Any],
    settings_type: type[Any],
    topic: Topic,
) -> None:
    settings = real_settings(settings_type)
    service = create(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, **client_options(settings)
    )
    await producer.start()
    try:
        async with running(service) as http:
            await producer.send_and_wait(topic_name(settings, topic), POISON, key=b"k")

            async def listed() -> Any:
                return (await http.get("/v1/dlq", headers=OPERATOR)).json()["items"]

            (letter,) = await eventually(listed, timeout=60)
            assert letter["service"] == name and letter["source_topic"].endswith(topic.value)
            assert "invalid event" in letter["reason"] and "body" not in letter
            inspected = (await http.get(f"/v1/dlq/{letter['id']}", headers=OPERATOR)).json()
            assert inspected["body"] == POISON.decode()
            # Replayed through the consumer that refused it: still poison, so refused again
            # with the reason, and left to be replayed once the cause is fixed.
            replay = await http.post(f"/v1/dlq/{letter['id']}/replay", headers=OPERATOR)
            assert replay.status_code == 409 and "refused again" in replay.json()["message"]
            kept = (await http.get(f"/v1/dlq/{letter['id']}", headers=OPERATOR)).json()
            assert kept["replays"] == []
            assert (await http.post(f"/v1/dlq/{letter['id']}/replay")).status_code == 401
            assert (await http.get("/v1/dlq/no-such-letter", headers=OPERATOR)).status_code == 404
    finally:
        await producer.stop()
