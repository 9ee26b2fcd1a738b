"""What an anonymous caller may put on a `web` submission: the citizen's matter, not the
agency's bookkeeping (when it was received, which records it belongs to, which department
takes it); and a body whose channel is not a string is refused, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import CLERK, NOW, World
from tests.signing import AUDITOR

TEXT = "ไฟถนนดับหน้าบ้าน หมู่ 3"


def created(world: World) -> int:
    return len(world.publisher.on(Topic.CASE_RECEIVED))


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"received_at": "2021-06-01T08:00:00+07:00"}, "received_at"),
        ({"links": {"activity_id": "ACT-X", "taken_by": "palad"}}, "links"),
        ({"department_hint": "finance"}, "department_hint"),
        ({"attachments": [{"kind": "document", "ref": "scan:letters/2569/17.pdf"}]}, "attachments"),
    ],
)
async def test_an_anonymous_web_submission_cannot_set_the_agencys_fields(
    extra: dict[str, Any], field: str
) -> None:
    world = World()
    async with client(world) as c:
        r = await c.post("/v1/submissions", json={"channel": "web", "text": TEXT, **extra})
    assert r.status_code == 422, r.text
    assert field in r.json()["message"]
    assert created(world) == 0


async def test_the_portals_own_submission_still_goes_through() -> None:
    world = World()
    body = {
        "channel": "web",
        "kind": "complaint",
        "text": TEXT,
        "attachments": [
            {"kind": "image", "ref": "portal-photo:9f2c"},
            {"kind": "link", "ref": "https://example.org/photo.jpg"},
        ],
        "location": {"lat": 15.1, "lon": 104.2, "village_no": 3},
        "service_code": "road",
        "wants_contact": False,
    }
    async with client(world) as c:
        r = await c.post("/v1/submissions", json=body, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 202, r.text
    assert created(world) == 1


async def test_staff_re_entering_a_web_report_may_say_when_it_came() -> None:
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post(
            "/v1/submissions",
            json={
                "channel": "web",
                "text": TEXT,
                "received_at": (NOW - timedelta(days=1)).isoformat(),
            },
        )
    assert r.status_code == 202, r.text
    assert created(world) == 1


async def test_a_signed_in_auditor_sends_the_web_form_as_a_citizen_would() -> None:
    world = World()
    async with client(world, AUDITOR) as c:
        r = await c.post(
            "/v1/submissions", json={"channel": "web", "text": TEXT, "links": {"a": "b"}}
        )
    assert r.status_code == 422 and "links" in r.json()["message"]
    assert created(world) == 0


async def test_a_forged_token_on_a_web_submission_is_refused_not_ignored() -> None:
    world = World()
    async with client(world, {"Authorization": "Bearer not-a-token"}) as c:
        r = await c.post(
            "/v1/submissions",
            json={"channel": "web", "text": TEXT, "received_at": "2026-11-30T09:00:00+07:00"},
        )
    assert r.status_code == 401
    assert created(world) == 0


@pytest.mark.parametrize("channel", [{"$gt": ""}, ["web"], 7, None])
async def test_a_channel_that_is_not_a_string_is_refused_not_a_500(channel: object) -> None:
    world = World()
    async with client(world) as c:
        r = await c.post("/v1/submissions", json={"channel": channel, "text": TEXT})
    assert r.status_code in (401, 422), r.text
    assert created(world) == 0


async def test_a_report_filed_under_the_corruption_service_keeps_no_contact_unasked() -> None:
    world = World()
    body = {
        "channel": "web",
        "kind": "complaint",
        "service_code": "corruption",
        "text": "เจ้าหน้าที่เรียกรับเงินค่าอนุญาต",
        "contact": {"name": "สมชาย ใจดี", "phone": "0812345678"},
    }
    async with client(world) as c:
        r = await c.post("/v1/submissions", json=body)
    assert r.status_code == 202, r.text
    assert not world.vault.of("contact")
    (received,) = world.publisher.on(Topic.CASE_RECEIVED)
    assert received["payload"]["contact_ref"] is None


async def test_the_senders_own_name_is_scrubbed_but_a_nickname_word_stays() -> None:
    world = World()
    body = {
        "channel": "web",
        "text": "สมชาย ใจดี แจ้งว่าน้ำท่วมถนนหน้าบ้านสมชาย",
        "contact": {"name": "น้ำ สมชาย ใจดี"},
    }
    async with client(world) as c:
        r = await c.post("/v1/submissions", json=body)
    assert r.status_code == 202, r.text
    (received,) = world.publisher.on(Topic.CASE_RECEIVED)
    text = received["payload"]["text"]
    assert "สมชาย" not in text and "ใจดี" not in text
    assert "น้ำท่วม" in text  # what routing classifies keeps its meaning
