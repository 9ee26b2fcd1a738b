"""A citizen takes a LINE message back (unsend): LINE asks that it be handled so that it can
no longer be seen or used. Its words leave the vault and the public text; the case stays,
and its timeline (routing, on `case.amended`) says what the citizen did."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.intake.domain.record import WITHDRAWN_TEXT
from shared.events.cases import WITHDRAWN
from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import NOW, World, line_body, line_event, post_line, words

CITIZEN = "U" + "b" * 32


def unsend(event_id: str, message_id: str, *, at: datetime = NOW, **extra: Any) -> dict[str, Any]:
    return line_event(event_id, user=CITIZEN, at=at, unsent=message_id) | extra


async def send(world: World, *events: dict[str, Any]) -> list[dict[str, Any]]:
    async with client(world) as c:
        r = await post_line(c, line_body(*events))
    assert r.status_code == 200, r.text
    outcomes: list[dict[str, Any]] = r.json()["events"]
    return outcomes


def public_texts(world: World) -> list[str]:
    return [e["payload"]["text"] for e in world.publisher.on(Topic.PUBLIC_CASES)]


def amended(world: World) -> list[dict[str, Any]]:
    return [e["payload"] for e in world.publisher.on(Topic.CASE_AMENDED)]


async def test_a_report_taken_back_leaves_the_vault_and_the_public_text_but_the_case_stays() -> (
    None
):
    world = World()
    world.clock.set(NOW + timedelta(minutes=1))
    report = line_event("01UA", user=CITIZEN, text="ไฟถนนดับหน้าบ้านนายสมชาย หมู่ 4", at=NOW)
    (opened,) = await send(world, report)
    case_id = opened["case_id"]
    record = await world.submissions.get_case(case_id)
    assert record is not None and record.text_ref and record.contact_ref
    said = record.text_ref
    assert "ไฟถนนดับ" in words(world, said)
    assert record.public.village_no == 4
    back = unsend("01UB", "m-01UA", at=NOW + timedelta(minutes=1))
    (outcome,) = await send(world, back)
    assert outcome == {"id": "01UB", "case_id": case_id, "withdrawn": True}
    after = await world.submissions.get_case(case_id)
    assert after is not None and after.text_ref is None
    assert said not in world.vault.entries  # the words are gone...
    assert after.contact_ref in world.vault.entries  # ...whom to answer is not
    assert public_texts(world)[-1] == WITHDRAWN_TEXT
    assert after.public.village_no is None and after.public.lat is None
    (note,) = amended(world)
    assert note["kind"] == WITHDRAWN and note["case_id"] == case_id
    assert "สมชาย" not in note["text"] and "ไฟถนนดับ" not in note["text"]
    # LINE delivers the unsend again: the same answer, nothing new.
    published = len(world.publisher.sent)
    (again,) = await send(world, back)
    assert again == outcome and len(world.publisher.sent) == published


async def test_a_follow_up_taken_back_leaves_the_rest_of_the_case_as_it_was() -> None:
    world = World()
    world.clock.set(NOW + timedelta(minutes=5))
    outcomes = await send(
        world,
        line_event("01UC", user=CITIZEN, text="ท่อประปาแตก ถนนสายหลัก"),
        line_event("01UD", user=CITIZEN, at=NOW + timedelta(minutes=1), text="โทรหาผม 0812345678"),
        line_event(
            "01UE",
            user=CITIZEN,
            at=NOW + timedelta(minutes=2),
            location=(15.72, 103.51, "ซอย 3 หมู่ 2 ต.สระโพนทอง"),
        ),
    )
    case_id = outcomes[0]["case_id"]
    record = await world.submissions.get_case(case_id)
    assert record is not None
    phone_ref = record.additions[0].text_ref
    assert phone_ref is not None and "0812345678" in words(world, phone_ref)
    before = record.public.text
    assert before.startswith("ท่อประปาแตก") and "ซอย 3" in before
    (taken,) = await send(world, unsend("01UF", "m-01UD", at=NOW + timedelta(minutes=3)))
    assert taken["withdrawn"] is True and taken["case_id"] == case_id
    after = await world.submissions.get_case(case_id)
    assert after is not None
    assert phone_ref not in world.vault.entries
    assert after.text_ref in world.vault.entries  # the report itself stays
    pin = record.additions[1].public
    assert pin and "ซอย 3" in pin and record.additions[0].public
    assert after.public.text == f"ท่อประปาแตก ถนนสายหลัก\n{pin}"
    assert after.public.lat == 15.72  # the pin stays until it is taken back too
    await send(world, unsend("01UG", "m-01UE", at=NOW + timedelta(minutes=4)))
    last = await world.submissions.get_case(case_id)
    assert last is not None and last.public.lat is None and last.public.address is None
    assert last.additions[1].lat is None  # the pin is not kept either
    assert last.public.text == "ท่อประปาแตก ถนนสายหลัก"
    assert [n["kind"] for n in amended(world)][-2:] == [WITHDRAWN, WITHDRAWN]


async def test_an_unsend_of_what_opened_no_case_is_skipped_with_a_reason() -> None:
    world = World()
    sticker = line_event("01UH", user=CITIZEN)
    sticker["message"] = {"id": "77", "type": "sticker", "packageId": "1", "stickerId": "2"}
    await send(world, sticker)
    standby = unsend("01UJ", "m-01UA", mode="standby")
    nameless = unsend("01UK", "x")
    del nameless["unsend"]
    outcomes = await send(world, unsend("01UI", "77"), standby, nameless)
    assert [o["id"] for o in outcomes] == ["01UI", "01UJ", "01UK"]
    assert all("refused" in o for o in outcomes)
    assert "in no case" in outcomes[0]["refused"] and "names no message" in outcomes[2]["refused"]
    assert world.publisher.on(Topic.CASE_AMENDED) == []
