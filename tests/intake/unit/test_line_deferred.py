"""LINE's call is answered 200 even when the store or a publish fails: the signed body
is kept on intake.raw, byte for byte, and taken from there, with retries, once the fault
passes. LINE redelivers a refused call only where the channel has turned that on, so a
503 could lose the citizen's message; only when the body cannot be kept either is it 503."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from shared.events.intake import RawPayloadReceived
from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import World, line_body, line_event, signed
from tests.intake.unit.test_line_webhook import post

USER_A, USER_B = "U" + "a" * 32, "U" + "b" * 32


def store_down(world: World) -> None:
    """Every read of the submissions fails as a lost connection does, until `store_up`."""

    async def down(*_: Any, **__: Any) -> Any:
        raise AutoReconnect("connection refused")

    world.submissions.get = down  # type: ignore[method-assign]


def store_up(world: World) -> None:
    del world.submissions.get


def deferred(world: World) -> list[RawPayloadReceived]:
    return [
        RawPayloadReceived.model_validate(e)
        for e in world.publisher.on(Topic.INTAKE_RAW)
        if e["payload"]["channel"] == "line"
    ]


def bytes_of(raw: RawPayloadReceived) -> bytes:
    p = raw.payload
    if p.headers.get("content-transfer-encoding") == "base64":
        return base64.b64decode(p.body)
    return p.body.encode("utf-8")


async def test_a_store_outage_keeps_the_body_and_it_becomes_cases_once_the_store_is_back() -> None:
    world = World()
    body = line_body(
        line_event("D1", user=USER_A, text="น้ำประปาไม่ไหลสามวันแล้ว หมู่ 4"),
        line_event("D2", user=USER_B, text="ไฟกิ่งหน้าโรงเรียนดับ"),
    )
    store_down(world)
    async with client(world) as c:
        answer = await post(c, body, signed(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == [
        {"id": "D1", "case_id": None, "deferred": True},
        {"id": "D2", "case_id": None, "deferred": True},
    ]
    assert world.publisher.on(Topic.CASE_RECEIVED) == []
    (raw,) = deferred(world)
    assert bytes_of(raw) == body  # the signature is over these exact bytes
    assert raw.payload.headers["x-line-signature"] == signed(body)

    with pytest.raises(AutoReconnect):  # the raw path retries; it does not defer again
        await world.handlers.raw(raw)
    assert len(deferred(world)) == 1

    store_up(world)
    taken = await world.handlers.raw(raw)
    again = await world.handlers.raw(raw)  # Kafka redelivers after a crash
    assert [o.case_id is not None and not o.duplicate for o in taken] == [True, True]
    assert [o.duplicate for o in again] == [True, True]
    texts = [e["payload"]["text"] for e in world.publisher.on(Topic.CASE_RECEIVED)]
    assert len(texts) == 2 and any("น้ำประปา" in t for t in texts)


async def test_events_taken_before_the_fault_are_duplicates_when_the_body_comes_again() -> None:
    world = World()
    body = line_body(
        line_event("E1", user=USER_A, text="ถนนเป็นหลุมลึก"),
        line_event("E2", user=USER_B, text="ขยะไม่มีคนเก็บหนึ่งสัปดาห์"),
    )
    calls = 0
    real_get = world.submissions.get

    async def second_user_fails(key: str) -> Any:
        nonlocal calls
        if key == "line:E2":
            calls += 1
            if calls == 1:
                raise AutoReconnect("connection reset")
        return await real_get(key)

    world.submissions.get = second_user_fails  # type: ignore[method-assign,assignment]
    async with client(world) as c:
        answer = await post(c, body, signed(body))
    first, second = answer.json()["events"]
    assert first["case_id"] and not first["duplicate"] and second["deferred"] is True
    (raw,) = deferred(world)
    outcomes = await world.handlers.raw(raw)
    assert [o.duplicate for o in outcomes] == [True, False]
    assert outcomes[0].case_id == first["case_id"]
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 2


async def test_when_the_body_cannot_be_kept_either_line_hears_503() -> None:
    world = World()
    body = line_body(line_event("F1", user=USER_A, text="ท่อระบายน้ำอุดตัน"))
    store_down(world)
    world.publisher.fail_next = 1  # the broker is down too
    async with client(world) as c:
        answer = await post(c, body, signed(body))
    assert answer.status_code == 503 and "retry-after" in answer.headers
    assert deferred(world) == []


async def test_a_body_that_is_not_utf8_travels_as_base64_unchanged() -> None:
    world = World()
    # JSON may come in UTF-16; LINE sends UTF-8, but the bytes are what was signed.
    body = (
        line_body(line_event("G1", user=USER_A, text="เสียงดังจากโรงงาน")).decode().encode("utf-16")
    )
    store_down(world)
    async with client(world) as c:
        answer = await post(c, body, signed(body))
    assert answer.status_code == 200, answer.text
    (raw,) = deferred(world)
    assert raw.payload.headers["content-transfer-encoding"] == "base64"
    assert bytes_of(raw) == body
    store_up(world)
    (outcome,) = await world.handlers.raw(raw)
    assert outcome.case_id is not None


async def test_events_beyond_the_answer_budget_wait_on_intake_raw() -> None:
    world = World()
    body = line_body(
        line_event("H1", user=USER_A, text="ถนนขาด น้ำกัดเซาะ"),
        line_event("H2", user=USER_B, text="สายไฟห้อยต่ำ"),
        line_event("H3", user="U" + "c" * 32, text="ต้นไม้ล้มขวางทาง"),
    )
    async with client(world) as c:
        world.handlers.line_budget = 0.0  # every event after the first is late
        answer = await post(c, body, signed(body))
    events = answer.json()["events"]
    assert answer.status_code == 200
    assert events[0]["case_id"] and [e.get("deferred") for e in events] == [None, True, True]
    (raw,) = deferred(world)
    assert bytes_of(raw) == body
    outcomes = await world.handlers.raw(raw)
    assert [o.duplicate for o in outcomes] == [True, False, False]
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 3


async def test_late_events_are_taken_at_once_when_they_cannot_be_kept() -> None:
    world = World()
    body = line_body(
        line_event("J1", user=USER_A, text="ถนนขาด น้ำกัดเซาะ"),
        line_event("J2", user=USER_B, text="สายไฟห้อยต่ำ"),
    )
    async with client(world) as c:
        world.handlers.line_budget = 0.0
        # Each case's own events publish first; the body's keeping is the third publish.
        publish = world.publisher.publish_raw

        async def refuse_raw(topic: Any, key: Any, value: bytes) -> None:
            if topic == Topic.INTAKE_RAW:
                raise ConnectionError("fake broker unavailable")
            await publish(topic, key, value)

        world.publisher.publish_raw = refuse_raw  # type: ignore[method-assign]
        answer = await post(c, body, signed(body))
    assert answer.status_code == 200
    assert all(e["case_id"] and not e.get("deferred") for e in answer.json()["events"])
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 2
