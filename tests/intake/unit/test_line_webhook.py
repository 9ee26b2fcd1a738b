"""LINE Messaging API webhook rules: signature first, 401 publishes nothing, redeliveries
create nothing, consecutive messages from one user within 10 minutes are one case."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import NOW, World, contacts, line_body, line_event, signed

URL = "/channels/line/webhook"


async def post(c, body: bytes, sig: str | None):  # type: ignore[no-untyped-def]
    headers: dict[str, bytes] = {b"content-type": b"application/json"}  # type: ignore[dict-item]
    if sig is not None:
        headers["x-line-signature"] = sig.encode("latin-1")
    return await c.post(URL, content=body, headers=headers)


@pytest.mark.parametrize(
    "sig",
    [None, "", "bm90IHRoZSBzaWduYXR1cmU=", "ÿÿÿ", "signed-with-another-secret"],
)
async def test_missing_or_wrong_signature_is_401_and_publishes_nothing(sig: str | None) -> None:
    world = World()
    body = line_body(line_event("01HW0", text="ไฟดับ"))
    if sig == "signed-with-another-secret":
        sig = signed(body, "another-secret")
    async with client(world) as c:
        r = await post(c, body, sig)
    assert r.status_code == 401
    assert world.publisher.sent == [] and world.submissions.docs == {}
    assert world.handlers.metrics.signature_refusals.labels("line")._value.get() == 1


async def test_signature_is_checked_on_the_raw_bytes_not_the_json() -> None:
    world = World()
    body = line_body(line_event("01HW1", text="ไฟดับ"))
    reformatted = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    async with client(world) as c:
        r = await post(c, reformatted, signed(body))
    assert r.status_code == 401 and world.publisher.sent == []


async def test_verification_ping_with_no_events_is_200() -> None:
    world = World()
    body = b'{"destination":"U0123","events":[]}'
    async with client(world) as c:
        r = await post(c, body, signed(body))
    assert r.status_code == 200 and r.json() == {"events": []}
    assert world.publisher.sent == []


async def test_signed_but_not_a_webhook_body_is_400() -> None:
    world = World()
    async with client(world) as c:
        for body in (b"{not json", b'{"events": "x"}', b"[]"):
            r = await post(c, body, signed(body))
            assert r.status_code == 400, body
    assert world.publisher.sent == []


async def test_text_message_becomes_a_case_with_the_user_kept_private() -> None:
    world = World()
    body = line_body(line_event("01HW2", text="ถนนเป็นหลุม หมู่ที่ ๗ ช่วยด้วยครับ"))
    async with client(world) as c:
        r = await post(c, body, signed(body))
    assert r.status_code == 200
    (event,) = r.json()["events"]
    received = world.publisher.on(Topic.CASE_RECEIVED)
    assert [e["payload"]["case_id"] for e in received] == [event["case_id"]]
    payload = received[0]["payload"]
    assert payload["channel"] == "line" and payload["channel_message_id"] == "01HW2"
    assert payload["text"] == "ถนนเป็นหลุม หมู่ที่ 7 ช่วยด้วยครับ"
    assert payload["location"]["village_no"] == 7
    assert "U" + "a" * 32 not in json.dumps(world.publisher.on(Topic.CASE_RECEIVED))
    (contact,) = contacts(world)
    assert contact == {"line_user_id": "U" + "a" * 32}
    ack = world.publisher.on(Topic.NOTIFICATION_REQUESTED)[0]["payload"]
    assert ack["template"] == "received" and ack["recipient_ref"] == payload["contact_ref"]


async def test_redelivery_and_repeated_bodies_create_nothing_new() -> None:
    world = World()
    first = line_body(line_event("01HW3", text="น้ำไม่ไหล"))
    again = line_body(line_event("01HW3", text="น้ำไม่ไหล", redelivery=True))
    async with client(world) as c:
        r1 = await post(c, first, signed(first))
        sent = len(world.publisher.sent)
        r2 = await post(c, again, signed(again))
        r3 = await post(c, first, signed(first))
    assert r1.json()["events"][0]["case_id"] == r2.json()["events"][0]["case_id"]
    assert r3.json()["events"][0]["duplicate"] is True
    assert len(world.publisher.sent) == sent and len(world.submissions.docs) == 1


async def test_text_photo_and_pin_within_ten_minutes_are_one_case() -> None:
    world = World()
    world.clock.set(NOW + timedelta(hours=1))
    body = line_body(
        line_event("01HA", text="กิ่งไม้หักพาดสายไฟ"),
        line_event("01HB", at=NOW + timedelta(minutes=2), image="5551234"),
        line_event(
            "01HC",
            at=NOW + timedelta(minutes=4),
            location=(15.72, 103.51, "บ้านเลขที่ 9 หมู่ 3 ต.สระโพนทอง"),
        ),
    )
    later = line_body(line_event("01HD", at=NOW + timedelta(minutes=25), text="เรื่องใหม่ ขยะ"))
    async with client(world) as c:
        r = await post(c, body, signed(body))
        again = await post(c, body, signed(body))  # the whole batch redelivered
        r2 = await post(c, later, signed(later))
    events = r.json()["events"]
    assert len({e["case_id"] for e in events}) == 1
    assert [e.get("added_to_case", False) for e in events] == [False, True, True]
    assert {e["case_id"] for e in again.json()["events"]} == {events[0]["case_id"]}
    assert r2.json()["events"][0]["case_id"] != events[0]["case_id"]
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 2
    record = await world.submissions.get_case(events[0]["case_id"])
    assert record is not None
    assert [a.ref for a in record.attachments] == ["line:message/5551234"]
    assert record.public.lat == 15.72 and record.public.village_no == 3
    assert record.public.address is not None
    assert "9" not in record.public.address  # the house number is not published


async def test_events_that_carry_no_matter_are_skipped_with_a_reason() -> None:
    world = World()
    follow = {
        "type": "follow",
        "mode": "active",
        "timestamp": 1,
        "webhookEventId": "F1",
        "source": {"type": "user", "userId": "U" + "c" * 32},
        "deliveryContext": {"isRedelivery": False},
    }
    sticker = line_event("S1")
    sticker["message"] = {"id": "9", "type": "sticker", "packageId": "1", "stickerId": "2"}
    empty = line_event("T0", text="   ")
    body = line_body(follow, sticker, empty)
    async with client(world) as c:
        r = await post(c, body, signed(body))
    assert r.status_code == 200
    assert [e["id"] for e in r.json()["events"]] == ["F1", "S1", "T0"]
    assert all("refused" in e for e in r.json()["events"])
    assert world.publisher.sent == []


@pytest.mark.parametrize("timestamp", [2**70, 10**17, -1])
async def test_a_timestamp_no_date_can_hold_is_that_events_refusal(timestamp: int) -> None:
    world = World()
    odd = {**line_event("T1", text="ถนนพัง"), "timestamp": timestamp}
    body = line_body(odd, line_event("T2", text="ไฟดับ"))
    async with client(world) as c:
        r = await post(c, body, signed(body))
    assert r.status_code == 200  # was a 500 for the whole body: the other event lost too
    first, second = r.json()["events"]
    assert "timestamp" in first["refused"] and second["case_id"]
    assert len(world.submissions.docs) == 1


async def test_oversized_body_is_413() -> None:
    world = World()
    body = line_body(line_event("BIG", text="ก" * 5000))
    async with client(world, max_body_bytes=1000) as c:
        r = await post(c, body, signed(body))
    assert r.status_code == 413 and world.publisher.sent == []


async def test_follow_ups_reach_routing_as_case_amended_once_each() -> None:
    world = World()
    world.clock.set(NOW + timedelta(hours=1))
    body = line_body(
        line_event("01HA", text="กิ่งไม้หักพาดสายไฟ"),
        line_event("01HB", at=NOW + timedelta(minutes=2), image="5551234"),
        line_event("01HC", at=NOW + timedelta(minutes=3), text="ตอนนี้ไฟดับทั้งซอยแล้ว"),
    )
    async with client(world) as c:
        r = await post(c, body, signed(body))
        await post(c, body, signed(body))  # redelivered: nothing new
    case_id = r.json()["events"][0]["case_id"]
    amended = [e["payload"] for e in world.publisher.on(Topic.CASE_AMENDED)]
    assert [(a["case_id"], a["kind"]) for a in amended] == [(case_id, "image"), (case_id, "text")]
    assert amended[0]["attachments"][0]["ref"] == "line:message/5551234"
    assert amended[1]["text"] == "ตอนนี้ไฟดับทั้งซอยแล้ว"
    assert len({a["amendment_id"] for a in amended}) == 2


async def test_a_case_takes_a_bounded_number_of_follow_ups_then_a_new_case_goes_on() -> None:
    from services.intake.domain.record import MAX_ADDITIONS

    world = World()
    world.clock.set(NOW + timedelta(hours=6))
    events = [
        line_event(f"01M{n:04d}", at=NOW + timedelta(seconds=n), text=f"ข้อความที่ {n}")
        for n in range(MAX_ADDITIONS + 2)
    ]
    async with client(world) as c:
        for event in events:
            body = line_body(event)
            assert (await post(c, body, signed(body))).status_code == 200
        redelivered = line_body(events[5])
        again = await post(c, redelivered, signed(redelivered))
    cases = world.publisher.on(Topic.CASE_RECEIVED)
    assert len(cases) == 2  # the first case is full after MAX_ADDITIONS follow-ups
    first = await world.submissions.get_case(cases[0]["payload"]["case_id"])
    assert first is not None and len(first.additions) == MAX_ADDITIONS
    assert again.json()["events"][0]["case_id"] == first.case_id  # still the same message
