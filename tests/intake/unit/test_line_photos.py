"""The photos citizens send on LINE, kept for the officers of the case: intake's consumers of
its own `case.received` and `case.amended` copy each from LINE's content endpoint (a real
HTTP server that answers as LINE does, tests/fake_line.py) into the vault, and
`GET /v1/cases/{case_id}/photos/{message_id}` shows it to the department's staff and the
executives, each look audited."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker
from pydantic import SecretStr

from services.intake.bootstrap import IntakeService
from services.intake.domain.record import photo_ref
from shared.events.cases import CaseAmended, CaseReceived, RankedCategory
from shared.line import DEV_LINE_TOKEN
from shared.roles import Role
from shared.topics import Topic
from tests.fake_line import FakeLine, running
from tests.fakes import dead_letters
from tests.intake.unit.api import service
from tests.intake.unit.helpers import NOW, World, line_body, line_event, post_line
from tests.intake.unit.test_line_unsend import unsend
from tests.intake.unit.test_open311 import assigned_to_public_works
from tests.signing import AUDITOR, EXECUTIVE, as_, sign_in

CITIZEN = "U" + "b" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"a photo of a broken pipe" * 40 + b"\xff\xd9"
OFFICER = as_(Role.OFFICER, department="public_works", officer_id="eng-2")
OTHER = as_(Role.OFFICER, department="finance", officer_id="fin-1")


@pytest.fixture
def line() -> Iterator[FakeLine]:
    with running(FakeLine(DEV_LINE_TOKEN)) as server:
        yield server


def keeping(world: World, line: FakeLine, **settings: Any) -> IntakeService:
    svc: IntakeService = sign_in(
        service(
            world,
            env="dev",
            line_channel_access_token=SecretStr(DEV_LINE_TOKEN),
            line_api_base_url=line.url,
            line_data_base_url=line.url,
            retry_backoff_seconds=0.01,
            **settings,
        )
    )
    return svc


async def webhook(svc: IntakeService, *events: dict[str, object]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=svc.asgi), base_url="http://intake"
    ) as c:
        r = await post_line(c, line_body(*events))
    assert r.status_code == 200, r.text
    outcomes: list[dict[str, Any]] = r.json()["events"]
    return outcomes


async def get(svc: IntakeService, path: str, who: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=svc.asgi), base_url="http://intake"
    ) as c:
        return await c.get(path, headers=who)


def received(world: World) -> list[CaseReceived]:
    return [CaseReceived.model_validate(e) for e in world.publisher.on(Topic.CASE_RECEIVED)]


def amended(world: World) -> list[CaseAmended]:
    return [CaseAmended.model_validate(e) for e in world.publisher.on(Topic.CASE_AMENDED)]


def audited(world: World) -> list[str]:
    return [e["payload"]["action"] for e in world.publisher.on(Topic.AUDIT_TRAIL)]


async def test_a_photo_sent_on_line_is_kept_and_shown_to_the_department_and_executives(
    line: FakeLine,
) -> None:
    world = World()
    svc = keeping(world, line)
    line.contents["5551234"] = (JPEG, "image/jpeg")
    (opened,) = await webhook(svc, line_event("01PA", user=CITIZEN, image="5551234"))
    case_id = opened["case_id"]
    await svc.handlers.case_event(assigned_to_public_works(case_id))
    (event,) = received(world)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(event, topic=Topic.CASE_RECEIVED.value)
        await broker.publish(event, topic=Topic.CASE_RECEIVED.value)  # redelivered
    assert line.fetched == ["5551234"]  # fetched once
    kept = world.vault.entries[photo_ref("5551234")]
    assert kept.kind == "photo" and base64.b64encode(JPEG).decode() not in kept.sealed  # sealed
    path = f"/v1/cases/{case_id}/photos/5551234"
    shown = await get(svc, path, OFFICER)
    assert shown.status_code == 200 and shown.content == JPEG
    assert shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["cache-control"] == "no-store"
    assert (await get(svc, path, EXECUTIVE)).status_code == 200
    assert audited(world) == ["photo.read", "photo.read"]
    # Not another department, not an auditor (no redaction reaches into a photo), not by a
    # message id that is not this case's, not anonymous.
    assert (await get(svc, path, OTHER)).status_code == 403
    assert (await get(svc, path, AUDITOR)).status_code == 403
    assert (await get(svc, f"/v1/cases/{case_id}/photos/999", OFFICER)).status_code == 404
    assert (await get(svc, path, {})).status_code == 401
    assert audited(world) == ["photo.read", "photo.read"]


async def test_a_photo_added_later_a_gone_one_and_lines_bad_moments(line: FakeLine) -> None:
    world = World()
    svc = keeping(world, line)
    line.contents["5552000"] = (JPEG, "image/jpeg")
    world.clock.set(NOW + timedelta(minutes=2))
    outcomes = await webhook(
        svc,
        line_event("01PB", user=CITIZEN, text="ท่อแตก หมู่ 5"),
        line_event("01PC", user=CITIZEN, at=NOW + timedelta(minutes=1), image="5552000"),
        line_event("01PD", user=CITIZEN, at=NOW + timedelta(minutes=1), image="5559999"),
    )
    case_id = outcomes[0]["case_id"]
    await svc.handlers.case_event(assigned_to_public_works(case_id))
    added, gone = amended(world)
    line.fail_next = [503, 429]  # LINE's bad moments: retried, never dead-lettered
    dead = dead_letters(svc)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(added, topic=Topic.CASE_AMENDED.value)
        await broker.publish(gone, topic=Topic.CASE_AMENDED.value)
    assert not dead
    assert line.fetched == ["5552000"] * 3 + ["5559999"]
    ok = await get(svc, f"/v1/cases/{case_id}/photos/5552000", OFFICER)
    assert ok.status_code == 200 and ok.content == JPEG
    # LINE no longer had it: named on the case, not kept (404, and no look recorded).
    missing = await get(svc, f"/v1/cases/{case_id}/photos/5559999", OFFICER)
    assert missing.status_code == 404 and "not_kept" in missing.text
    assert (
        svc.runtime.registry.get_sample_value("ruam_line_photos_total", {"outcome": "not_kept"})
        == 1
    )
    # The citizen takes the photo back: the copy goes with it.
    (taken,) = await webhook(svc, unsend("01PE", "5552000", at=NOW + timedelta(minutes=2)))
    assert taken["withdrawn"] is True
    assert photo_ref("5552000") not in world.vault.entries
    assert (await get(svc, f"/v1/cases/{case_id}/photos/5552000", OFFICER)).status_code == 404


async def test_a_corruption_reports_photo_is_the_executives_alone(line: FakeLine) -> None:
    world = World()
    svc = keeping(world, line)
    line.contents["5553000"] = (JPEG, "image/jpeg")
    (opened,) = await webhook(svc, line_event("01PF", user=CITIZEN, image="5553000"))
    case_id = opened["case_id"]
    # Routing found it to be a corruption report, for the office.
    corruption = assigned_to_public_works(
        case_id, categories=(RankedCategory(code="corruption", score=0.9),)
    )
    office_case = corruption.model_copy(
        update={"payload": corruption.payload.model_copy(update={"department": "office"})}
    )
    await svc.handlers.case_event(office_case)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(world)[0], topic=Topic.CASE_RECEIVED.value)
    path = f"/v1/cases/{case_id}/photos/5553000"
    office = as_(Role.HEAD, department="office", officer_id="office-head")
    assert (await get(svc, path, office)).status_code == 403
    assert (await get(svc, path, EXECUTIVE)).status_code == 200
    assert base64.b64encode(JPEG).decode() not in str(world.submissions.docs)
