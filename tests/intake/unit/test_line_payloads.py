"""LINE webhook bodies as the platform really sends them, beyond the happy path: a
redelivery that comes after newer messages, the same event twice at once, a broker hiccup
mid-body, group senders without a user id, @-mentions, every media type, content kept
by another server, and signed bodies that are not webhooks."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from services.intake.channels.line import MENTION_TEXT, LineMention, without_mentions
from services.intake.settings import IntakeSettings
from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import NOW, World, contacts, line_body, line_event, signed
from tests.intake.unit.test_line_webhook import post

USER = "U" + "a" * 32
GROUP = "C" + "5" * 32


def group_event(event_id: str, text: str, user: str | None = None, **extra: Any) -> dict[str, Any]:
    event = line_event(event_id, text=text)
    source: dict[str, str] = {"type": "group", "groupId": GROUP}
    if user is not None:
        source["userId"] = user
    event["source"] = source
    message = event["message"]
    assert isinstance(message, dict)
    message.update(extra)
    return event


def public_texts(world: World) -> list[str]:
    return [e["payload"]["text"] for e in world.publisher.on(Topic.PUBLIC_CASES)]


async def test_a_redelivery_after_a_newer_message_joins_its_case_and_leaves_the_thread() -> None:
    world = World()
    world.clock.set(NOW + timedelta(hours=1))
    newer = line_body(line_event("01NB", at=NOW + timedelta(minutes=1), image="777"))
    older = line_body(line_event("01OA", text="ถนนหน้าวัดเป็นหลุมใหญ่", redelivery=True))
    after = line_body(line_event("01NC", at=NOW + timedelta(minutes=3), text="ลึกมากครับ"))
    async with client(world) as c:
        first = (await post(c, newer, signed(newer))).json()["events"][0]
        late = (await post(c, older, signed(older))).json()["events"][0]
        then = (await post(c, after, signed(after))).json()["events"][0]
    assert late["case_id"] == first["case_id"] and late.get("added_to_case") is True
    assert then["case_id"] == first["case_id"]
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 1


async def test_a_late_redelivery_beyond_the_window_does_not_pull_the_thread_back() -> None:
    world = World()
    world.clock.set(NOW + timedelta(hours=2))
    newer = line_body(line_event("02NB", at=NOW + timedelta(minutes=40), text="ขยะไม่เก็บ"))
    older = line_body(line_event("02OA", text="ไฟถนนดับ", redelivery=True))
    after = line_body(line_event("02NC", at=NOW + timedelta(minutes=42), text="สามวันแล้ว"))
    async with client(world) as c:
        first = (await post(c, newer, signed(newer))).json()["events"][0]
        late = (await post(c, older, signed(older))).json()["events"][0]
        then = (await post(c, after, signed(after))).json()["events"][0]
    assert late["case_id"] != first["case_id"]  # 40 minutes apart: its own matter
    assert then["case_id"] == first["case_id"]  # the conversation goes on where it was


async def test_the_same_first_message_twice_at_once_is_one_case_and_no_amendment() -> None:
    world = World()
    body = line_body(line_event("01CA", text="ไฟฟ้าดับทั้งหมู่บ้าน"))
    again = line_body(line_event("01CA", text="ไฟฟ้าดับทั้งหมู่บ้าน", redelivery=True))
    async with client(world) as c:
        r1, r2 = await asyncio.gather(post(c, body, signed(body)), post(c, again, signed(again)))
    assert r1.json()["events"][0]["case_id"] == r2.json()["events"][0]["case_id"]
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 1
    assert world.publisher.on(Topic.CASE_AMENDED) == []
    assert all(t.count("ไฟฟ้าดับทั้งหมู่บ้าน") == 1 for t in public_texts(world))


async def test_a_broker_hiccup_on_one_event_still_takes_the_others() -> None:
    world = World()
    body = line_body(
        line_event("01K1", user="U" + "1" * 32, text="ท่อประปาแตก"),
        line_event("01K2", user="U" + "2" * 32, text="สุนัขจรจัดหลายตัว"),
    )
    world.publisher.fail_next = 1
    async with client(world) as c:
        failed = await post(c, body, signed(body))
        again = await post(c, body, signed(body))  # LINE's redelivery, or the sweep's turn
    # The body is kept on intake.raw to be taken again; LINE hears 200 (tests of that
    # path: test_line_deferred.py).
    assert failed.status_code == 200
    assert [e.get("deferred") for e in failed.json()["events"]] == [True, None]
    assert {"line:01K1", "line:01K2"} <= set(world.submissions.docs)
    assert again.status_code == 200
    assert len({e["case_id"] for e in again.json()["events"]}) == 2


async def test_group_senders_without_a_user_id_are_not_one_person() -> None:
    world = World()
    world.clock.set(NOW + timedelta(hours=1))
    body = line_body(
        group_event("01G1", "น้ำท่วมถนนสายหลัก"),
        group_event("01G2", "ขยะไม่เก็บมาสามวัน"),
    )
    body_dict = json.loads(body)
    body_dict["events"][1]["timestamp"] += 60_000
    body = json.dumps(body_dict, ensure_ascii=False).encode()
    async with client(world) as c:
        r = await post(c, body, signed(body))
    events = r.json()["events"]
    assert len({e["case_id"] for e in events}) == 2
    assert not any(e.get("added_to_case") for e in events)
    assert all(c.get("line_user_id") != GROUP for c in contacts(world))
    assert GROUP not in json.dumps(world.publisher.sent, default=str)


async def test_a_group_sender_with_a_user_id_is_threaded_by_the_user() -> None:
    world = World()
    body = line_body(group_event("01G3", "ไฟถนนดับ", user=USER))
    async with client(world) as c:
        await post(c, body, signed(body))
    assert contacts(world) == [{"line_user_id": USER}]


async def test_an_at_mentioned_name_is_not_published() -> None:
    world = World()
    text = "@สมชาย ใจดี ไฟถนนหน้าบ้านดับครับ"
    mention = {"mentionees": [{"index": 0, "length": 11, "type": "user", "userId": "U" + "b" * 32}]}
    body = line_body(group_event("01M1", text, user=USER, mention=mention))
    async with client(world) as c:
        await post(c, body, signed(body))
    (received,) = world.publisher.on(Topic.CASE_RECEIVED)
    assert received["payload"]["text"] == f"{MENTION_TEXT} ไฟถนนหน้าบ้านดับครับ"
    assert all("สมชาย" not in t for t in public_texts(world))


def test_mentions_are_counted_in_utf16_units_and_bad_spans_left_alone() -> None:
    # "😀" is two UTF-16 units: the name after it starts at 3, not 2.
    text = "😀 @Ann ถนนพัง @Bob"
    m = LineMention.model_validate(
        {
            "mentionees": [
                {"index": 3, "length": 4, "type": "user"},
                {"index": 15, "length": 4, "type": "user"},
                {"index": 99, "length": 4, "type": "user"},  # past the end
                {"index": 0, "length": 4, "type": "all"},  # @All names no one
            ]
        }
    )
    assert without_mentions(text, m) == f"😀 {MENTION_TEXT} ถนนพัง {MENTION_TEXT}"


@pytest.mark.parametrize(
    ("kind", "says"),
    [("video", "วิดีโอ"), ("audio", "เสียง"), ("file", "ไฟล์"), ("image", "ภาพถ่าย")],
)
async def test_each_media_type_says_what_was_sent(kind: str, says: str) -> None:
    world = World()
    event = line_event("01V" + kind, image="325709")
    message = event["message"]
    assert isinstance(message, dict)
    message["type"] = kind
    body = line_body(event)
    async with client(world) as c:
        await post(c, body, signed(body))
    (received,) = world.publisher.on(Topic.CASE_RECEIVED)
    assert says in received["payload"]["text"]


async def test_content_kept_by_another_server_is_referred_to_by_its_address() -> None:
    world = World()
    event = line_event("01X1", image="354718705033693861")
    message = event["message"]
    assert isinstance(message, dict)
    message["contentProvider"] = {
        "type": "external",
        "originalContentUrl": "https://example.com/original.jpg",
        "previewImageUrl": "https://example.com/preview.jpg",
    }
    body = line_body(event)
    async with client(world) as c:
        await post(c, body, signed(body))
    (received,) = world.publisher.on(Topic.CASE_RECEIVED)
    assert [a["ref"] for a in received["payload"]["attachments"]] == [
        "https://example.com/original.jpg"
    ]


@pytest.mark.parametrize(
    "body",
    [b'{"destination":"U1"}', b"null", b'{"destination":"U1","events":[1]}', b"[" * 100_000],
)
async def test_signed_bodies_that_are_not_webhooks_are_400_naming_why(body: bytes) -> None:
    world = World()
    async with client(world) as c:
        r = await post(c, body, signed(body))
    assert r.status_code == 400, r.text
    assert "too long" not in r.text
    assert world.publisher.sent == []


@pytest.mark.parametrize("secret", ["", "   "])
def test_an_empty_channel_secret_is_refused_outside_dev(secret: str) -> None:
    with pytest.raises(ValueError, match="LINE_CHANNEL_SECRET"):
        IntakeSettings(
            env="production",
            open311_api_keys="k1",
            line_channel_secret=secret,
            vault_key="LeQ6Q7tvTEIRW8ofc6IMjTBXVobd48heEm7dz48hg5s=",
        )
