"""Intake's subscriptions on FastStream's in-memory broker, storage faked: raw payloads of
every kind normalized like HTTP, poison dead-lettered and kept for replay, routing's
facts applied to the read model."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker

from services.intake.bootstrap import IntakeService
from services.intake.channels.email import message_ref
from services.intake.channels.line import signature
from services.intake.domain.model import Submission
from shared.dead_letters import NotReplayable
from shared.events.cases import CaseAssigned, CaseAssignedPayload, Channel, Kind
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.topics import Topic
from tests.intake.unit.api import service
from tests.intake.unit.helpers import NOW, SECRET, World, line_body, line_event
from tests.intake.unit.test_channels import SLIPS
from tests.intake.unit.test_email import tis620_message


def raw(channel: str, body: str, content_type: str = "application/json", **headers: str) -> bytes:
    return RawPayloadReceived(
        org_id="sraphonthong",
        payload=RawPayloadReceivedPayload(
            channel=channel, received_at=NOW, body=body, content_type=content_type, headers=headers
        ),
    ).to_bytes()


def setup() -> tuple[World, IntakeService]:
    world = World()
    svc = service(world)
    world.handlers = svc.handlers
    return world, svc


def cases(world: World) -> list[dict[str, Any]]:
    return [e["payload"] for e in world.publisher.on(Topic.CASE_RECEIVED)]


async def test_raw_payloads_of_every_channel_are_normalized_like_http() -> None:
    world, svc = setup()
    hook = line_body(line_event("01HRAW", text="ไฟดับ หมู่ 3"))
    mail = tis620_message()
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(
            raw("line", hook.decode(), **{"X-Line-Signature": signature(SECRET, hook)}),
            topic=Topic.INTAKE_RAW.value,
        )
        await broker.publish(
            raw(
                "email",
                base64.b64encode(mail).decode(),
                "message/rfc822",
                **{"Content-Transfer-Encoding": "base64"},
            ),
            topic=Topic.INTAKE_RAW.value,
        )
        await broker.publish(
            raw(
                "suggestion_box",
                SLIPS,
                "text/csv",
                box_id="B9",
                location="ตลาด",
                opened_at="2026-05-15T09:00:00+07:00",
                committee="ก,ข",
            ),
            topic=Topic.INTAKE_RAW.value,
        )
        await broker.publish(
            raw(
                "phone",
                json.dumps(
                    {
                        "call_id": "IVR-1",
                        "officer_id": "ivr",
                        "call_time": "2026-05-16T08:00:00+07:00",
                        "summary": "สุนัขจรจัดกัดเด็ก",
                    }
                ),
            ),
            topic=Topic.INTAKE_RAW.value,
        )
        await broker.publish(
            raw(
                "open311",
                "api_key=test-key&service_code=road&lat=15.7&long=103.5"
                "&description=%E0%B8%96%E0%B8%99%E0%B8%99%E0%B8%9E%E0%B8%B1%E0%B8%87",
                "application/x-www-form-urlencoded",
            ),
            topic=Topic.INTAKE_RAW.value,
        )
    assert [(p["channel"], p["channel_message_id"]) for p in cases(world)] == [
        ("line", "01HRAW"),
        ("email", message_ref("letter-1@mail.example.th")),
        ("suggestion_box", "B9@20260515T0900/1"),
        ("suggestion_box", "B9@20260515T0900/2"),
        ("phone", "IVR-1"),
        ("open311", None),
    ]
    assert cases(world)[-1]["text"] == "ถนนพัง"


async def test_same_message_by_http_and_by_kafka_is_one_case() -> None:
    world, svc = setup()
    hook = line_body(line_event("01HBOTH", text="น้ำท่วมถนน"))
    sent = await world.handlers.line_webhook(hook, signature(SECRET, hook))
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(
            raw("line", hook.decode(), **{"x-line-signature": signature(SECRET, hook)}),
            topic=Topic.INTAKE_RAW.value,
        )
    assert len(cases(world)) == 1 and cases(world)[0]["case_id"] == sent[0].case_id


async def test_poison_is_dead_lettered_kept_and_replayable() -> None:
    world, svc = setup()
    forged = line_body(line_event("01HFORGED", text="x"))
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(b'{"type": "RawPayloadReceived"}', topic=Topic.INTAKE_RAW.value)
        await broker.publish(raw("fax", "hello", "text/plain"), topic=Topic.INTAKE_RAW.value)
        await broker.publish(
            raw("line", forged.decode(), **{"x-line-signature": "bad"}),
            topic=Topic.INTAKE_RAW.value,
        )
        await broker.publish(
            raw(
                "phone",
                json.dumps(
                    {
                        "call_id": "ok",
                        "officer_id": "o",
                        "call_time": "2026-05-16T08:00:00+07:00",
                        "summary": "ขยะล้น",
                    }
                ),
            ),
            topic=Topic.INTAKE_RAW.value,
        )
        letters = list(world.dead.letters.values())
        assert len(letters) == 3
        assert letters[0]["body"] == '{"type": "RawPayloadReceived"}'
        assert "invalid event" in letters[0]["reason"]
        assert letters[1]["channel"] == "fax" and "no parser" in letters[1]["reason"]
        assert "X-Line-Signature" in letters[2]["reason"]
        assert all(d["source_topic"] == Topic.INTAKE_RAW.value for d in letters)
        assert svc.dead_letters is not None
        # Replayed through intake's own raw consumer: nothing was fixed, so it is refused
        # again with the reason, not counted, and kept for a replay after the fix.
        with pytest.raises(NotReplayable, match="refused again: UnknownChannel"):
            await svc.dead_letters.replay(letters[1]["_id"])
        assert svc.dead_letters.replayed.labels("intake")._value.get() == 0
        assert len(world.dead.letters) == 3
    assert [p["channel_message_id"] for p in cases(world)] == ["ok"]  # the partition moved on
    assert world.dead.letters[letters[1]["_id"]]["replays"] == []


async def test_routing_facts_update_the_read_model_and_public_cases() -> None:
    world, svc = setup()
    accepted = await world.handlers.submit(
        Submission(channel=Channel.PHONE, text="ไฟฟ้าดับ โทรหา 081-111-2222", channel_message_id="p1")
    )
    event = CaseAssigned(
        org_id="sraphonthong",
        payload=CaseAssignedPayload(
            case_id=accepted.case_id,
            kind=Kind.COMPLAINT,
            channel=Channel.PHONE,
            department="public_works",
            officer_id="o1",
            received_at=NOW,
            respond_due_at=NOW + timedelta(days=7),
        ),
    )
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(event, topic=Topic.CASE_ASSIGNED.value, key=accepted.case_id.encode())
        await broker.publish(event, topic=Topic.CASE_ASSIGNED.value, key=accepted.case_id.encode())
    public = [p["payload"] for p in world.publisher.on(Topic.PUBLIC_CASES)]
    assert [p["status"] for p in public] == ["received", "assigned"]  # the repeat changed nothing
    assert all("081" not in p["text"] for p in public)
    record = await world.submissions.get_case(accepted.case_id)
    assert record is not None and record.progress.department == "public_works"


async def test_a_raw_payload_without_message_id_is_one_case_however_often_delivered() -> None:
    """Redelivery and dead-letter replay send the same bytes: they are the same case."""
    world, svc = setup()
    same = raw("web", json.dumps({"text": "ไฟถนนดับทั้งซอย หมู่ 2"}, ensure_ascii=False))
    other = raw("web", json.dumps({"text": "ไฟถนนดับทั้งซอย หมู่ 2"}, ensure_ascii=False))
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        for body in (same, same, other):
            await broker.publish(body, topic=Topic.INTAKE_RAW.value)
    ids = [c["case_id"] for c in cases(world)]
    # The same words in a second, separate report are a second case.
    assert len(ids) == 2 and len(set(ids)) == 2


async def test_a_raw_json_body_that_cannot_parse_is_dead_lettered_at_once() -> None:
    """Not JSON, a 5,000-digit number, nesting too deep: permanent, never retried."""
    world, svc = setup()
    bodies = ["{not json", '{"text": ' + "9" * 5000 + "}", "[" * 100_000 + "]" * 100_000]
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        for body in bodies:
            await broker.publish(raw("web", body), topic=Topic.INTAKE_RAW.value)
    letters = list(world.dead.letters.values())
    assert len(letters) == 3
    assert all("not valid JSON" in d["reason"] for d in letters), [d["reason"] for d in letters]
    assert cases(world) == []
