"""Officers told on LINE of a case assigned or escalated to them: the push client against a
real HTTP server that answers as LINE does (tests/fake_line.py), and routing's consumers of
its own case.assigned and case.escalated on FastStream's in-memory broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from faststream.kafka import TestKafkaBroker
from pydantic import SecretStr, ValidationError

from services.routing.bootstrap import RoutingService, create_service
from services.routing.domain import notify
from services.routing.domain.directory import Directory
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.events.cases import (
    CaseAssigned,
    CaseAssignedPayload,
    CaseEscalated,
    CaseEscalatedPayload,
)
from shared.kafka import is_transient
from shared.line import (
    DEV_LINE_TOKEN,
    LineCredentialRefused,
    LinePush,
    LineRefused,
    LineUnavailable,
    retry_key,
)
from shared.topics import Topic
from tests.fake_line import FakeLine, running
from tests.fakes import dead_letters
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories, directory_data
from tests.routing.unit.test_handlers import NOW, received

ANAN_LINE = "U" + "a" * 32
PALAD_LINE = "U" + "b" * 32
CASE = "SPT-2569-000001"
CONSOLE = "https://console.sraphonthong.example"


def directory() -> Directory:
    data = directory_data()
    for officer in data["officers"]:
        if officer["id"] == "eng-anan":
            officer["line_user_id"] = ANAN_LINE
        if officer["id"] == "palad":
            officer["line_user_id"] = PALAD_LINE
    return Directory.model_validate(data)


@pytest.fixture
def line() -> Iterator[FakeLine]:
    with running(FakeLine(DEV_LINE_TOKEN, known=frozenset({ANAN_LINE, PALAD_LINE}))) as server:
        yield server


def service(repo: FakeCaseRepository, line: FakeLine) -> RoutingService:
    settings = RoutingSettings(
        env="dev",
        line_channel_access_token=SecretStr(DEV_LINE_TOKEN),
        line_api_base_url=line.url,
        console_public_base_url=CONSOLE,
        retry_backoff_seconds=0.01,
    )
    return create_service(
        settings,
        cases=repo,
        directories=StaticDirectories(directory()),
        ranker=FakeRanker(),
        clock=FixedClock(NOW),
    )


def assigned(officer_id: str = "eng-anan") -> CaseAssigned:
    return CaseAssigned(
        org_id="sraphonthong",
        payload=CaseAssignedPayload(
            case_id=CASE,
            kind="complaint",  # type: ignore[arg-type]
            channel="web",  # type: ignore[arg-type]
            department="engineering",
            officer_id=officer_id,
            categories=({"code": "lighting", "score": 0.9},),  # type: ignore[arg-type]
            received_at=NOW - timedelta(hours=1),
            respond_due_at=NOW + timedelta(days=15),
        ),
    )


def escalated() -> CaseEscalated:
    return CaseEscalated(
        org_id="sraphonthong",
        payload=CaseEscalatedPayload(
            case_id=CASE, level=2, to_role="palad", to_officer_id="palad", reason="overdue"
        ),
    )


async def test_a_push_carries_the_token_the_retry_key_and_a_text_message(line: FakeLine) -> None:
    client = LinePush(DEV_LINE_TOKEN, base_url=line.url)
    key = retry_key(uuid.uuid4())
    assert await client.push(ANAN_LINE, ["สวัสดี"], key) is True
    # The same key again: LINE answers 409, which is a push already made.
    assert await client.push(ANAN_LINE, ["สวัสดี"], key) is False
    assert line.answered == [200, 409] and len(line.pushes) == 1
    assert line.pushes[0] == {
        "to": ANAN_LINE,
        "messages": [{"type": "text", "text": "สวัสดี"}],
        "key": str(key),
    }
    line.fail_next[:] = [503]
    with pytest.raises(LineUnavailable):  # a ConnectionError: retried, never dead-lettered
        await client.push(ANAN_LINE, ["x"], retry_key(uuid.uuid4()))
    line.fail_next[:] = [429]
    with pytest.raises(LineUnavailable):
        await client.push(ANAN_LINE, ["x"], retry_key(uuid.uuid4()))
    with pytest.raises(LineRefused):  # a user id the channel does not know: never succeeds
        await client.push("U" + "c" * 32, ["x"], retry_key(uuid.uuid4()))
    # A wrong token is the channel's fault, not the message's: a ConnectionError too.
    with pytest.raises(LineCredentialRefused) as refused:
        await LinePush("wrong", base_url=line.url).push(ANAN_LINE, ["x"], key)
    assert is_transient(refused.value) and "401" in str(refused.value)
    with pytest.raises(LineUnavailable):  # nobody listening
        await LinePush("t", base_url="http://127.0.0.1:9").push(ANAN_LINE, ["x"], key)
    await client.close()


async def test_the_officer_is_told_on_assignment_and_a_redelivery_is_not_pushed_twice(
    line: FakeLine,
) -> None:
    repo = FakeCaseRepository()
    svc = service(repo, line)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(
            received(CASE, text="ไฟถนนดับ บ้านนายสมชาย โทร 0812345678"),
            topic=Topic.CASE_RECEIVED.value,
        )
        event = assigned()
        await broker.publish(event, topic=Topic.CASE_ASSIGNED.value)
        await broker.publish(event, topic=Topic.CASE_ASSIGNED.value)  # redelivered
    assert line.answered == [200, 409] and len(line.pushes) == 1
    push = line.pushes[0]
    assert push["to"] == ANAN_LINE and push["key"] == str(retry_key(event.event_id, "officer"))
    text = push["messages"][0]["text"]
    assert CASE in text and "แสงสว่าง" in text
    due = NOW + timedelta(days=15)
    assert f"{due.year + 543}" in text  # a Buddhist-Era date
    assert f"{CONSOLE}/cases/{CASE}" in text
    assert "0812345678" not in text  # the redacted text only


async def test_the_palad_is_told_of_an_escalation(line: FakeLine) -> None:
    repo = FakeCaseRepository()
    svc = service(repo, line)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(CASE), topic=Topic.CASE_RECEIVED.value)
        await broker.publish(escalated(), topic=Topic.CASE_ESCALATED.value)
    assert [p["to"] for p in line.pushes] == [PALAD_LINE]
    assert "ยกระดับ" in line.pushes[0]["messages"][0]["text"]


async def test_lines_bad_moments_are_retried_and_a_refusal_is_dead_lettered(
    line: FakeLine,
) -> None:
    repo = FakeCaseRepository()
    svc = service(repo, line)
    dead = dead_letters(svc)

    line.fail_next[:] = [500, 429]
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(CASE), topic=Topic.CASE_RECEIVED.value)
        await broker.publish(assigned(), topic=Topic.CASE_ASSIGNED.value)
        assert line.answered == [500, 429, 200] and not dead
        # An officer whose LINE id the channel does not know (LINE answers 400): the event
        # goes to routing's dead letters with the reason and its bytes, for a replay.
        svc.handlers.directories.directory = _with_line("eng-anan", "U" + "d" * 32)  # type: ignore[attr-defined]
        bad = assigned()
        await broker.publish(bad, topic=Topic.CASE_ASSIGNED.value)
    assert len(dead) == 1 and dead[0][0] == bad.to_bytes()
    assert "LINE push answered 400" in dead[0][1]["x-dlq-reason"]
    assert len(line.pushes) == 1


def _with_line(officer_id: str, line_id: str) -> Directory:
    data = directory_data()
    for officer in data["officers"]:
        if officer["id"] == officer_id:
            officer["line_user_id"] = line_id
    return Directory.model_validate(data)


async def test_without_a_line_id_or_a_token_nobody_is_pushed(line: FakeLine) -> None:
    repo = FakeCaseRepository()
    svc = service(repo, line)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(CASE), topic=Topic.CASE_RECEIVED.value)
        await broker.publish(assigned("eng-somchai"), topic=Topic.CASE_ASSIGNED.value)
    assert line.answered == []
    # Off by default: without the token routing does not even read its assignments.
    off = create_service(
        RoutingSettings(),
        cases=FakeCaseRepository(),
        directories=StaticDirectories(directory()),
        ranker=FakeRanker(),
        clock=FixedClock(NOW),
    )
    assert Topic.CASE_ASSIGNED.value not in set(off.runtime.groups.values())
    assert set(svc.runtime.groups.values()) >= {
        Topic.CASE_ASSIGNED.value,
        Topic.CASE_ESCALATED.value,
    }


def test_the_token_refuses_placeholders_and_the_dev_token_outside_dev() -> None:
    for placeholder in ("changeme", "<channel access token>", "   "):
        with pytest.raises(ValidationError, match="placeholder"):
            RoutingSettings(env="dev", line_channel_access_token=SecretStr(placeholder))
    with pytest.raises(ValidationError, match="published dev token"):
        RoutingSettings(
            env="production",
            oidc_signing_key=SecretStr("x"),
            line_channel_access_token=SecretStr(DEV_LINE_TOKEN),
        )
    assert not RoutingSettings().line_push
    assert RoutingSettings(env="dev", line_channel_access_token=SecretStr("a" * 40)).line_push


def test_a_whistle_blowers_report_is_pushed_without_its_text() -> None:
    from services.routing.domain.model import Case

    case = Case(CASE, "sraphonthong", "corruption_report", "web", "เจ้าหน้าที่เรียกรับเงิน", NOW)
    message = notify.on_escalation(case, 2, "palad", directory(), CONSOLE)
    assert message is not None and "เรียกรับเงิน" not in message.text
    assert notify.on_escalation(case, 2, "eng-somchai", directory(), CONSOLE) is None


async def test_a_refused_token_holds_the_pushes_until_the_current_one_is_set(
    line: FakeLine,
) -> None:
    """LINE refuses the token (reissued in LINE's console, say): the push waits, retried,
    never dead-lettered, and goes out once the token is right again."""
    repo = FakeCaseRepository()
    svc = service(repo, line)
    dead = dead_letters(svc)
    line.token = "reissued"  # the service still has the old one

    async def set_the_current_token() -> None:
        for _ in range(1000):  # at most 10 s: a refusal dead-lettered is never retried
            if line.answered.count(401) >= 3:
                break
            await asyncio.sleep(0.01)
        line.token = DEV_LINE_TOKEN

    fix = asyncio.create_task(set_the_current_token())
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(received(CASE), topic=Topic.CASE_RECEIVED.value)
        await broker.publish(assigned(), topic=Topic.CASE_ASSIGNED.value)
    await fix
    assert line.answered[:3] == [401, 401, 401] and line.answered[-1] == 200
    assert [p["to"] for p in line.pushes] == [ANAN_LINE] and not dead
    retried = svc.runtime.registry.get_sample_value(
        "ruam_transient_retries_total", {"service": "routing", "fault": "LineCredentialRefused"}
    )
    assert retried is not None and retried >= 3
