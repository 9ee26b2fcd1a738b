"""The test stack's Kafka holds each service to its own topics (SASL/SCRAM and ACLs).

The ACLs are made by shared/bus.py for this test's topic prefix and applied as the stack
applies them; each client then connects as one principal with its dev password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from deploy.local import stack
from services.compliance.bootstrap import create_service as create_compliance
from services.compliance.settings import ComplianceSettings
from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from services.survey.bootstrap import create_service as create_survey
from services.survey.settings import SurveySettings
from shared.bus import ADMIN, DEV_PASSWORDS, group_prefix
from shared.kafka import ensure_topics
from shared.roles import Role
from shared.settings import ServiceSettings
from shared.topics import Topic, name
from tests.conftest import eventually, running
from tests.signing import EXECUTIVE, as_

pytestmark = pytest.mark.integration


def sasl(user: str, password: str | None = None) -> dict[str, Any]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": user,
        "sasl_plain_password": DEV_PASSWORDS[user] if password is None else password,
    }


@pytest.fixture
async def prefix(real_stack: stack.Profile, isolation: str) -> str:
    """A prefix of this test's with the services' ACLs, and its topics made by the admin."""
    prefix = f"{isolation}."
    stack.apply_acls(real_stack, prefix)
    admin = ServiceSettings(
        kafka_bootstrap_servers=real_stack.kafka_bootstrap,
        topic_prefix=prefix,
        kafka_sasl_username=ADMIN,
        kafka_sasl_password=DEV_PASSWORDS[ADMIN],
    )
    await ensure_topics(admin)
    return prefix


async def produce(real_stack: stack.Profile, user: str, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=real_stack.kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        **sasl(user),
    )
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), 30)
    finally:
        await producer.stop()


async def consume(real_stack: stack.Profile, user: str, topic: str, group: str) -> None:
    """Join `group` on `topic` and fetch once (nothing needs to be there)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=real_stack.kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **sasl(user),
    )
    await consumer.start()
    try:
        await asyncio.wait_for(consumer.getmany(timeout_ms=2000), 30)
    finally:
        await consumer.stop()


async def test_intake_writes_its_topic_and_not_routings(
    real_stack: stack.Profile, prefix: str
) -> None:
    await produce(real_stack, "intake", name(Topic.CASE_RECEIVED, prefix))
    # Routing's topics (case.assigned too, which intake reads) and survey's.
    for topic in (
        Topic.CASE_ASSIGNED,
        Topic.CASE_ESCALATED,
        Topic.CASE_COMMANDS,
        Topic.SURVEY_RESPONDED,
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(real_stack, "intake", name(topic, prefix))


@pytest.mark.parametrize(
    ("user", "topic"),
    [
        ("routing", Topic.PUBLIC_CASES),
        ("survey", Topic.CASE_ESCALATED),
        ("compliance", Topic.CASE_COMMANDS),
        ("planning", Topic.CASE_RECEIVED),
    ],
)
async def test_no_principal_writes_what_it_neither_produces_nor_reads(
    real_stack: stack.Profile, prefix: str, user: str, topic: Topic
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(real_stack, user, name(topic, prefix))


async def test_survey_reads_what_it_subscribes_to_and_not_intakes_input(
    real_stack: stack.Profile, prefix: str
) -> None:
    group = group_prefix("survey", prefix)
    await consume(real_stack, "survey", name(Topic.CASE_RESOLVED, prefix), group + "probe")
    with pytest.raises(TopicAuthorizationFailedError):
        await consume(real_stack, "survey", name(Topic.INTAKE_RAW, prefix), group + "probe")
    # Nor in another service's consumer group, whose offsets it could move.
    with pytest.raises(GroupAuthorizationFailedError):
        await consume(
            real_stack,
            "survey",
            name(Topic.CASE_RESOLVED, prefix),
            group_prefix("intake", prefix) + "case-resolved",
        )


async def test_a_wrong_password_cannot_connect(real_stack: stack.Profile) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=real_stack.kafka_bootstrap, **sasl("intake", "not-the-password")
    )
    try:
        with pytest.raises(KafkaConnectionError):
            await producer.start()
    finally:
        await producer.stop()


async def test_without_sasl_nobody_gets_in(real_stack: stack.Profile) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=real_stack.kafka_bootstrap, request_timeout_ms=5000
    )
    try:
        with pytest.raises(KafkaConnectionError):
            await producer.start()
    finally:
        await producer.stop()


async def test_the_admin_writes_and_reads_anything(real_stack: stack.Profile, prefix: str) -> None:
    await produce(real_stack, ADMIN, name(Topic.CASE_ASSIGNED, prefix))
    await consume(real_stack, ADMIN, name(Topic.INTAKE_RAW, prefix), f"{prefix}admin.probe")


async def test_the_services_run_on_their_own_principals(
    real_settings: Callable[..., Any], real_stack: stack.Profile, isolation: str
) -> None:
    """All four on the ACLs alone: each creates its topics, joins its groups, publishes,
    and a phone call becomes a case that routing assigns and intake shows."""
    prefix = f"{isolation}."
    stack.apply_acls(real_stack, prefix)

    def own(cls: type[Any], user: str) -> Any:
        return real_settings(cls, kafka_sasl_username=user, kafka_sasl_password=DEV_PASSWORDS[user])

    intake = create_intake(own(IntakeSettings, "intake"))
    routing = create_routing(own(RoutingSettings, "routing"))
    survey = create_survey(own(SurveySettings, "survey"))
    compliance = create_compliance(own(ComplianceSettings, "compliance"))
    async with (
        running(intake) as intake_http,
        running(routing) as routing_http,
        running(survey),
        running(compliance),
    ):
        intake_http.headers.update(as_(Role.OFFICER, officer_id="desk", department="office"))
        routing_http.headers.update(EXECUTIVE)
        body = {
            "channel": "phone",
            "kind": "complaint",
            "text": "ไฟฟ้าส่องสว่างดับ หน้าโรงเรียน หมู่ที่ ๓",
            "channel_message_id": "acl-call-1",
        }
        r = await intake_http.post("/v1/submissions", json=body)
        assert r.status_code == 202, r.text
        case_id = r.json()["case_id"]

        async def assigned() -> bool:
            r = await routing_http.get(f"/v1/cases/{case_id}")
            return r.status_code == 200 and r.json()["status"] == "assigned"

        await eventually(assigned)

        async def intake_knows() -> bool:  # from case.assigned, in intake's group
            r = await intake_http.get(f"/open311/v2/requests/{case_id}.json")
            return r.status_code == 200 and bool(r.json()[0]["agency_responsible"])

        await eventually(intake_knows, timeout=30)
