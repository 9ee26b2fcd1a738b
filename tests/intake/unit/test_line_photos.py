"""What citizens send on LINE (photos, voice messages, videos, PDFs), kept for the officers of
the case: intake's consumers of its own `case.received` and `case.amended` copy each from
LINE's content endpoint (a real HTTP server that answers as LINE does, tests/fake_line.py)
into the vault, and `GET /v1/cases/{case_id}/media/{message_id}` shows it to the
department's staff and the executives, each look audited."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker
from pydantic import SecretStr

from services.intake.bootstrap import IntakeService
from services.intake.domain.record import media_ref
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
    kept = world.vault.entries[media_ref("5551234")]
    assert kept.kind == "photo" and base64.b64encode(JPEG).decode() not in kept.sealed  # sealed
    path = f"/v1/cases/{case_id}/media/5551234"
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
    assert (await get(svc, f"/v1/cases/{case_id}/media/999", OFFICER)).status_code == 404
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
    ok = await get(svc, f"/v1/cases/{case_id}/media/5552000", OFFICER)
    assert ok.status_code == 200 and ok.content == JPEG
    # LINE no longer had it: named on the case, not kept (404, and no look recorded).
    missing = await get(svc, f"/v1/cases/{case_id}/media/5559999", OFFICER)
    assert missing.status_code == 404 and "not_kept" in missing.text
    assert (
        svc.runtime.registry.get_sample_value(
            "ruam_line_media_total", {"kind": "image", "outcome": "not_kept"}
        )
        == 1
    )
    # The citizen takes the photo back: the copy goes with it.
    (taken,) = await webhook(svc, unsend("01PE", "5552000", at=NOW + timedelta(minutes=2)))
    assert taken["withdrawn"] is True
    assert media_ref("5552000") not in world.vault.entries
    assert (await get(svc, f"/v1/cases/{case_id}/media/5552000", OFFICER)).status_code == 404


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
    path = f"/v1/cases/{case_id}/media/5553000"
    office = as_(Role.HEAD, department="office", officer_id="office-head")
    assert (await get(svc, path, office)).status_code == 403
    assert (await get(svc, path, EXECUTIVE)).status_code == 200
    assert base64.b64encode(JPEG).decode() not in str(world.submissions.docs)


M4A = b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00" + b"a voice message" * 30
PDF = b"%PDF-1.4\n" + b"a letter to the SAO\n" * 20 + b"%%EOF\n"


async def test_a_voice_message_a_video_and_a_pdf_are_kept_and_played(line: FakeLine) -> None:
    world = World()
    svc = keeping(world, line)
    line.contents["5554000"] = (M4A, "audio/x-m4a")  # what LINE calls a voice message
    line.contents["5554001"] = (M4A.replace(b"M4A ", b"mp42"), "video/mp4")
    line.contents["5554002"] = (PDF, "application/pdf")
    outcomes = await webhook(
        svc,
        line_event("01PV", user=CITIZEN, image="5554000", sent="audio"),
        line_event("01PW", user=CITIZEN, at=NOW, image="5554001", sent="video"),
        line_event("01PX", user=CITIZEN, at=NOW, image="5554002", sent="file"),
    )
    case_id = outcomes[0]["case_id"]
    assert {o["case_id"] for o in outcomes} == {case_id}  # one matter, in three messages
    await svc.handlers.case_event(assigned_to_public_works(case_id))
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(world)[0], topic=Topic.CASE_RECEIVED.value)
        for follow_up in amended(world):
            await broker.publish(follow_up, topic=Topic.CASE_AMENDED.value)
    assert sorted(line.fetched) == ["5554000", "5554001", "5554002"]
    assert world.vault.entries[media_ref("5554000")].kind == "media"
    voice = await get(svc, f"/v1/cases/{case_id}/media/5554000", OFFICER)
    assert voice.status_code == 200 and voice.content == M4A
    assert voice.headers["content-type"] == "audio/mp4"  # read from the bytes, not LINE's name
    assert "sandbox" in voice.headers["content-security-policy"]
    assert "content-disposition" not in voice.headers  # played in the page
    video = await get(svc, f"/v1/cases/{case_id}/media/5554001", OFFICER)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    letter = await get(svc, f"/v1/cases/{case_id}/media/5554002", EXECUTIVE)
    assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
    assert letter.headers["content-disposition"].startswith("attachment")
    assert audited(world) == ["media.read"] * 3
    trail = [e["payload"]["detail"] for e in world.publisher.on(Topic.AUDIT_TRAIL)]
    assert trail == ["audio", "video", "document"]
    assert (await get(svc, f"/v1/cases/{case_id}/media/5554000", AUDITOR)).status_code == 403
    # Taken back: the copy goes with it.
    await webhook(svc, unsend("01PY", "5554000", at=NOW + timedelta(minutes=1)))
    assert media_ref("5554000") not in world.vault.entries


async def test_what_is_not_of_its_kinds_formats_stays_with_line(line: FakeLine) -> None:
    world = World()
    svc = keeping(world, line)
    # A program sent as a file, a page LINE serves as a "video", an SVG as a "photo".
    line.contents["5555000"] = (b"MZ\x90\x00 a program", "application/octet-stream")
    line.contents["5555001"] = (b"<html><script>alert(1)</script>", "video/mp4")
    line.contents["5555002"] = (b"<svg onload=alert(1)>", "image/jpeg")
    outcomes = await webhook(
        svc,
        line_event("01PZ", user=CITIZEN, image="5555000", sent="file"),
        line_event("01Q0", user=CITIZEN, at=NOW, image="5555001", sent="video"),
        line_event("01Q1", user=CITIZEN, at=NOW, image="5555002"),
    )
    case_id = outcomes[0]["case_id"]
    await svc.handlers.case_event(assigned_to_public_works(case_id))
    dead = dead_letters(svc)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(world)[0], topic=Topic.CASE_RECEIVED.value)
        for follow_up in amended(world):
            await broker.publish(follow_up, topic=Topic.CASE_AMENDED.value)
    assert not dead  # never a dead letter: the report stands, its attachment stays named
    for message_id in ("5555000", "5555001", "5555002"):
        assert media_ref(message_id) not in world.vault.entries
        r = await get(svc, f"/v1/cases/{case_id}/media/{message_id}", OFFICER)
        assert r.status_code == 404 and "not_kept" in r.text
    for kind in ("document", "video", "image"):
        sample = {"kind": kind, "outcome": "not_kept"}
        assert svc.runtime.registry.get_sample_value("ruam_line_media_total", sample) == 1


async def test_a_refused_token_holds_the_copy_until_the_current_one_is_set(
    line: FakeLine,
) -> None:
    """LINE refuses the channel's token (401): the copy waits, retried, never dead-lettered
    (the case's report is not at fault), and is made once the token is right again."""
    world = World()
    svc = keeping(world, line)
    line.contents["5556000"] = (M4A, "audio/x-m4a")
    (opened,) = await webhook(svc, line_event("01Q2", user=CITIZEN, image="5556000", sent="audio"))
    dead = dead_letters(svc)
    line.token = "reissued"  # in LINE's console; intake still has the old one
    refused = {"service": "intake", "fault": "LineCredentialRefused"}

    async def set_the_current_token() -> None:
        for _ in range(1000):  # at most 10 s: a refusal dead-lettered is never retried
            retried = svc.runtime.registry.get_sample_value("ruam_transient_retries_total", refused)
            if (retried or 0) >= 3:
                break
            await asyncio.sleep(0.01)
        line.token = DEV_LINE_TOKEN

    fix = asyncio.create_task(set_the_current_token())
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(world)[0], topic=Topic.CASE_RECEIVED.value)
    await fix
    assert not dead and line.fetched == ["5556000"]
    assert world.vault.entries[media_ref("5556000")].kind == "media"
    assert opened["case_id"]
