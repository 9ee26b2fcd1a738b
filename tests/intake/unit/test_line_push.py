"""A citizen who reported on LINE is answered there: the case number, the reply deadline and
where to follow it, then the survey once the case is resolved. Intake's consumers of
`notification.requested` and `survey.requested` on FastStream's in-memory broker, pushing
to a real HTTP server that answers as LINE does (tests/fake_line.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker
from pydantic import SecretStr, ValidationError

from services.intake.bootstrap import IntakeService
from services.intake.settings import IntakeSettings
from shared.events.cases import CaseStatusChanged, CaseStatusChangedPayload
from shared.events.intake import (
    ANSWERED,
    ENDED,
    QUESTION,
    RESOLVED,
    NotificationRequested,
    NotificationRequestedPayload,
)
from shared.events.survey import SurveyRequested, SurveyRequestedPayload
from shared.line import DEV_LINE_TOKEN, retry_key
from shared.topics import Topic
from tests.fake_line import FakeLine, running
from tests.fakes import dead_letters
from tests.intake.unit.api import service
from tests.intake.unit.helpers import NOW, SECRET, World, line_body, line_event, post_line

CITIZEN = "U" + "c" * 32
PORTAL = "https://sraphonthong.example"
SURVEY_LINK = "https://sraphonthong.example/survey/tok-123"


@pytest.fixture
def line() -> Iterator[FakeLine]:
    with running(FakeLine(DEV_LINE_TOKEN, known=frozenset({CITIZEN}))) as server:
        yield server


def pushing(world: World, line: FakeLine) -> IntakeService:
    return service(
        world,
        env="dev",
        line_channel_access_token=SecretStr(DEV_LINE_TOKEN),
        line_api_base_url=line.url,
        line_data_base_url=line.url,
        portal_public_base_url=PORTAL,
        retry_backoff_seconds=0.01,
    )


async def webhook(svc: IntakeService, *events: dict[str, object]) -> list[dict[str, Any]]:
    transport = httpx.ASGITransport(app=svc.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as c:
        r = await post_line(c, line_body(*events))
    assert r.status_code == 200
    outcomes: list[dict[str, Any]] = r.json()["events"]
    return outcomes


def acknowledgements(world: World) -> list[NotificationRequested]:
    return [
        NotificationRequested.model_validate(e)
        for e in world.publisher.on(Topic.NOTIFICATION_REQUESTED)
    ]


async def reported(
    line: FakeLine, event_id: str, text: str
) -> tuple[World, IntakeService, NotificationRequested]:
    """A citizen's LINE report taken by intake with its pushes on: the world, the service and
    the acknowledgement the new case asks for."""
    world = World()
    svc = pushing(world, line)
    await webhook(svc, line_event(event_id, user=CITIZEN, text=text))
    (ack,) = acknowledgements(world)
    return world, svc, ack


def survey_for(ack: NotificationRequested, channel: str = "line") -> SurveyRequested:
    return SurveyRequested(
        org_id=ack.org_id,
        payload=SurveyRequestedPayload(
            survey_id="sv-1",
            case_id=ack.payload.case_id,
            channel=channel,
            recipient_ref=ack.payload.recipient_ref,
            token="tok-123",
            link=SURVEY_LINK,
            expires_at=NOW + timedelta(days=30),
            questionnaire_version="v1",
        ),
    )


async def test_the_citizen_is_told_the_case_number_and_a_redelivery_is_not_pushed_twice(
    line: FakeLine,
) -> None:
    world = World()
    svc = pushing(world, line)
    words = "ไฟถนนดับ หน้าบ้านนายสมชาย โทร 0812345678"
    (outcome,) = await webhook(svc, line_event("01HWA", user=CITIZEN, text=words))
    (ack,) = acknowledgements(world)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(ack, topic=Topic.NOTIFICATION_REQUESTED.value)
        await broker.publish(ack, topic=Topic.NOTIFICATION_REQUESTED.value)  # redelivered
    assert line.answered == [200, 409] and len(line.pushes) == 1
    push = line.pushes[0]
    assert push["to"] == CITIZEN and push["key"] == str(retry_key(ack.event_id, "citizen"))
    text = push["messages"][0]["text"]
    case_id = outcome["case_id"]
    assert f"เลขที่เรื่อง {case_id}" in text
    assert f"{PORTAL}/track/{case_id}" in text
    due = NOW + timedelta(days=15)
    assert f"{due.year + 543}" in text  # the reply deadline, a Buddhist-Era date
    # Nothing the citizen wrote comes back: a chat is read in the open.
    assert "สมชาย" not in text and "0812345678" not in text


def sent(svc: IntakeService, by: str) -> float:
    value = svc.runtime.registry.get_sample_value("ruam_citizen_line_messages_total", {"by": by})
    return value or 0.0


async def test_the_case_number_goes_as_a_free_reply_once_while_lines_token_lasts(
    line: FakeLine,
) -> None:
    world = World()
    svc = pushing(world, line)
    token = line.issue(CITIZEN)
    (outcome,) = await webhook(
        svc, line_event("01HWR", user=CITIZEN, text="ไฟถนนดับ หมู่ 7", reply_token=token)
    )
    (ack,) = acknowledgements(world)
    assert ack.payload.reply_token == token
    world.clock.set(NOW + timedelta(seconds=20))  # the webhook answered, Kafka delivered
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(ack, topic=Topic.NOTIFICATION_REQUESTED.value)
        # Redelivered after the reply, even once the token is long gone: nothing again.
        world.clock.set(NOW + timedelta(minutes=5))
        await broker.publish(ack, topic=Topic.NOTIFICATION_REQUESTED.value)
    (reply,) = line.replies
    assert (
        reply["to"] == CITIZEN
        and f"เลขที่เรื่อง {outcome['case_id']}" in (reply["messages"][0]["text"])
    )
    assert line.reply_answers == [200] and line.pushes == []
    assert (sent(svc, "reply"), sent(svc, "push")) == (1, 0)


async def test_a_late_or_refused_reply_token_is_pushed_instead(line: FakeLine) -> None:
    world = World()
    svc = pushing(world, line)
    late = line_event("01HWS", user=CITIZEN, text="ท่อระบายน้ำตัน", reply_token=line.issue(CITIZEN))
    # A token LINE does not take (this one it never gave): LINE answers 400.
    refused = line_event("01HWT", user=CITIZEN, text="SPT-2569-999999", reply_token="not-lines")
    await webhook(svc, late, refused)
    slow, asked = acknowledgements(world)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        world.clock.set(NOW + timedelta(seconds=50))  # the token is too old to try
        await broker.publish(slow, topic=Topic.NOTIFICATION_REQUESTED.value)
        assert line.reply_answers == [] and len(line.pushes) == 1
        world.clock.set(NOW + timedelta(seconds=5))
        await broker.publish(asked, topic=Topic.NOTIFICATION_REQUESTED.value)
    assert line.reply_answers == [400] and line.replies == []
    assert [p["to"] for p in line.pushes] == [CITIZEN, CITIZEN]
    assert "SPT-2569-999999" in line.pushes[1]["messages"][0]["text"]
    assert (sent(svc, "reply"), sent(svc, "push")) == (0, 2)


async def test_no_reply_in_a_group_or_to_a_redelivered_message(line: FakeLine) -> None:
    world = World()
    svc = pushing(world, line)
    # In a group the whole group reads a reply: the member is answered in private.
    group = line_event("01HWU", user=CITIZEN, text="ถนนขาด หมู่ 2", reply_token=line.issue(CITIZEN))
    group["source"] = {"type": "group", "groupId": "C" + "d" * 32, "userId": CITIZEN}
    # LINE gave up waiting and sends it again: its token is as old as the message.
    again = line_event(
        "01HWV", user=CITIZEN, at=NOW + timedelta(hours=1), text="น้ำท่วมขัง หมู่ 3", redelivery=True
    )
    await webhook(svc, group, again)
    for ack in acknowledgements(world):
        assert ack.payload.recipient_ref is not None and ack.payload.reply_token is None


async def test_the_survey_reaches_the_citizen_on_line(line: FakeLine) -> None:
    _, svc, ack = await reported(line, "01HWB", "ขยะไม่มีคนเก็บ หมู่ 3")
    survey = survey_for(ack)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(survey, topic=Topic.SURVEY_REQUESTED.value)
    (push,) = line.pushes
    assert push["to"] == CITIZEN and push["key"] == str(retry_key(survey.event_id, "citizen"))
    text = push["messages"][0]["text"]
    assert ack.payload.case_id in text and SURVEY_LINK in text
    assert f"{(NOW + timedelta(days=30)).year + 543}" in text


async def test_only_a_line_citizen_of_this_organisation_with_a_contact_is_pushed(
    line: FakeLine,
) -> None:
    world = World()
    svc = pushing(world, line)
    await webhook(svc, line_event("01HWC", user=CITIZEN, text="น้ำประปาไม่ไหล หมู่ 5"))
    # In a group, a member who has not agreed to LINE's terms comes without a user id.
    group = line_event("01HWD", text="ถนนขาด หมู่ 2")
    group["source"] = {"type": "group", "groupId": "C" + "d" * 32}
    await webhook(svc, group)
    line_ack, group_ack = acknowledgements(world)
    assert group_ack.payload.recipient_ref is None
    other_org = line_ack.model_copy(update={"org_id": "another-sao"})
    reminder = line_ack.model_copy(
        update={"payload": line_ack.payload.model_copy(update={"template": "reminder"})}
    )
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(survey_for(line_ack), topic=Topic.SURVEY_REQUESTED.value)
        assert line.answered == [200]  # the one that is answered
        await broker.publish(group_ack, topic=Topic.NOTIFICATION_REQUESTED.value)
        await broker.publish(other_org, topic=Topic.NOTIFICATION_REQUESTED.value)
        await broker.publish(reminder, topic=Topic.NOTIFICATION_REQUESTED.value)
        # A case that came by the web form is answered on the web, not on LINE.
        await broker.publish(survey_for(line_ack, "web"), topic=Topic.SURVEY_REQUESTED.value)
        # Retention purged the contact: nobody left to answer.
        assert line_ack.payload.recipient_ref is not None
        world.vault.entries.pop(line_ack.payload.recipient_ref)
        await broker.publish(line_ack, topic=Topic.NOTIFICATION_REQUESTED.value)
        await broker.publish(survey_for(line_ack), topic=Topic.SURVEY_REQUESTED.value)
    assert line.answered == [200]


def status_changed(
    case_id: str, action: str, to: str, seq: int, at: datetime = NOW
) -> CaseStatusChanged:
    return CaseStatusChanged(
        org_id="sraphonthong",
        occurred_at=at,
        payload=CaseStatusChangedPayload(
            case_id=case_id, from_status="in_progress", to_status=to, action=action, seq=seq
        ),
    )


def from_routing(ack: NotificationRequested, template: str, **params: str) -> NotificationRequested:
    """What routing asks to tell the citizen (services/routing/outbound.py)."""
    return NotificationRequested(
        org_id=ack.org_id,
        payload=NotificationRequestedPayload(
            case_id=ack.payload.case_id,
            channel="line",
            recipient_ref=ack.payload.recipient_ref,
            template=template,
            params={"case_id": ack.payload.case_id, **params},
        ),
    )


async def test_an_officers_question_reaches_the_citizen_and_their_answer_joins_the_case(
    line: FakeLine,
) -> None:
    world, svc, ack = await reported(line, "01HWG", "ไฟถนนดับ หมู่ 4")
    case_id = ack.payload.case_id
    asked = from_routing(ack, QUESTION, question="ขอรูปถ่ายเสาไฟต้นที่ดับ และจุดสังเกตใกล้เคียงครับ")
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(asked, topic=Topic.NOTIFICATION_REQUESTED.value)
    (push,) = line.pushes
    text = push["messages"][0]["text"]
    assert push["to"] == CITIZEN and case_id in text and "ขอรูปถ่ายเสาไฟต้นที่ดับ" in text
    # Meanwhile the citizen reported something else: the chat is on that case now.
    world.clock.set(NOW + timedelta(hours=1))
    other = line_event("01HWK", user=CITIZEN, at=NOW + timedelta(hours=1), text="ขยะล้น หมู่ 8")
    (second,) = await webhook(svc, other)
    assert second["case_id"] != case_id
    # Intake's own view of the case learns it waits (its subscription to routing's facts).
    asked_at = NOW + timedelta(hours=2)
    waiting = status_changed(case_id, "request_info", "pending_citizen", 5, asked_at)
    assert await svc.handlers.case_event(waiting) is True
    # Two days later, far past the 10-minute conversation: the answer joins the case...
    world.clock.set(NOW + timedelta(days=2))
    token = line.issue(CITIZEN)
    answer = line_event(
        "01HWH", user=CITIZEN, at=NOW + timedelta(days=2), image="5559876", reply_token=token
    )
    photo = line_event("01HWO", user=CITIZEN, at=NOW + timedelta(days=2, seconds=5), text="ต้นที่ 12")
    joined, more = await webhook(svc, answer, photo)
    assert joined["case_id"] == case_id and joined["added_to_case"] is True
    assert more["case_id"] == case_id
    amended = world.publisher.on(Topic.CASE_AMENDED)
    assert [a["payload"]["case_id"] for a in amended] == [case_id] * 2  # not the second case
    # ...and the citizen is told it arrived, once, by LINE's free reply.
    (thanks,) = [a for a in acknowledgements(world) if a.payload.template == ANSWERED]
    assert thanks.payload.reply_token == token
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(thanks, topic=Topic.NOTIFICATION_REQUESTED.value)
    (reply,) = line.replies
    assert reply["to"] == CITIZEN and case_id in reply["messages"][0]["text"]
    assert "ได้รับข้อมูลเพิ่มเติม" in reply["messages"][0]["text"]
    # ...and once the officer goes on, a later message is a new matter again.
    assert await svc.handlers.case_event(status_changed(case_id, "start", "in_progress", 6))
    world.clock.set(NOW + timedelta(days=3))
    later = line_event("01HWI", user=CITIZEN, at=NOW + timedelta(days=3), text="ขยะล้นถัง หมู่ 2")
    (new,) = await webhook(svc, later)
    assert new["case_id"] not in (case_id, second["case_id"]) and not new.get("added_to_case")


async def test_a_crash_before_the_chat_is_pointed_at_the_asked_case_is_mended_on_redelivery(
    line: FakeLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, svc, ack = await reported(line, "01HWL", "ไฟถนนดับ หมู่ 9")
    case_id = ack.payload.case_id
    world.clock.set(NOW + timedelta(hours=1))
    other = line_event("01HWM", user=CITIZEN, at=NOW + timedelta(hours=1), text="ท่อแตก หมู่ 9")
    (second,) = await webhook(svc, other)
    waiting = status_changed(case_id, "request_info", "pending_citizen", 5)
    # The case's view is saved, then the process dies before the chat is pointed at it.
    put = world.threads.put

    async def dies(thread_key: str, doc: dict[str, Any]) -> None:
        raise ConnectionError("killed")

    monkeypatch.setattr(world.threads, "put", dies)
    with pytest.raises(ConnectionError):
        await svc.handlers.case_event(waiting)
    monkeypatch.setattr(world.threads, "put", put)
    # Kafka delivers the status change again: stale for the case, but the chat is mended.
    assert await svc.handlers.case_event(waiting) is False
    world.clock.set(NOW + timedelta(days=2))
    answer = line_event("01HWN", user=CITIZEN, at=NOW + timedelta(days=2), text="เสาที่ ๑๒ ครับ")
    (joined,) = await webhook(svc, answer)
    assert joined["case_id"] == case_id != second["case_id"] and joined["added_to_case"] is True
    # A later, unrelated change redelivered while the case still waits moves nothing.
    (chat,) = world.threads.threads.values()
    chat["dedup_key"] = "elsewhere"
    assert await svc.handlers.case_event(status_changed(case_id, "note", "in_progress", 4)) is False
    assert chat["dedup_key"] == "elsewhere"


async def test_the_citizen_is_told_what_was_done_or_how_it_ended(line: FakeLine) -> None:
    _, svc, ack = await reported(line, "01HWJ", "ไฟถนนดับ หมู่ 6")
    case_id = ack.payload.case_id
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        for told in (
            from_routing(ack, RESOLVED, resolution="เปลี่ยนหลอดไฟแล้ว"),
            from_routing(ack, RESOLVED),  # a whistle-blower's: what was found stays unsaid
            from_routing(ack, ENDED, status="transferred"),
            from_routing(ack, ENDED, status="in_progress"),  # not an ending: nothing
            # An officer's reminder is not the citizen's to read.
            from_routing(ack, "citizen_followup"),
        ):
            await broker.publish(told, topic=Topic.NOTIFICATION_REQUESTED.value)
    done, unsaid, transferred = (p["messages"][0]["text"] for p in line.pushes)
    assert "ผลการดำเนินการ: เปลี่ยนหลอดไฟแล้ว" in done and f"{PORTAL}/track/{case_id}" in done
    assert case_id in unsaid and "ผลการดำเนินการ" not in unsaid
    assert case_id in transferred and "ส่งต่อ" in transferred


async def test_a_case_number_sent_on_line_is_answered_with_its_status_and_opens_no_case(
    line: FakeLine,
) -> None:
    world = World()
    svc = pushing(world, line)
    (first,) = await webhook(svc, line_event("01HWL", user=CITIZEN, text="ไฟถนนดับ หมู่ 4"))
    case_id = first["case_id"]
    assert await svc.handlers.case_event(status_changed(case_id, "start", "in_progress", 3))
    # Days later, from another user who never reported: the number in Thai digits.
    asker = "U" + "f" * 32
    line.known = frozenset({CITIZEN, asker})
    world.clock.set(NOW + timedelta(days=2))
    thai = case_id.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
    ask = line_event("01HWM", user=asker, at=NOW + timedelta(days=2), text=f"ติดตามเรื่อง {thai} ครับ")
    (outcome,) = await webhook(svc, ask)
    assert outcome == {"id": "01HWM", "case_id": None, "asked_about": case_id}
    unknown = line_event("01HWN", user=asker, at=NOW + timedelta(days=2), text="SPT-2569-999999")
    await webhook(svc, unknown)
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 1  # no case for either
    _, status, missing = acknowledgements(world)
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        for notice in (status, missing):
            await broker.publish(notice, topic=Topic.NOTIFICATION_REQUESTED.value)
    answer, not_found = line.pushes
    assert answer["to"] == asker and not_found["to"] == asker
    assert "สถานะ: กำลังดำเนินการ" in answer["messages"][0]["text"]
    assert "ไฟถนน" not in answer["messages"][0]["text"]  # the public status only
    assert "ไม่พบเรื่องเลขที่ SPT-2569-999999" in not_found["messages"][0]["text"]


async def test_lines_bad_moments_are_retried_and_a_refusal_is_dead_lettered(
    line: FakeLine,
) -> None:
    world = World()
    svc = pushing(world, line)
    await webhook(svc, line_event("01HWE", user=CITIZEN, text="ไฟดับทั้งซอย หมู่ 7"))
    # A user id LINE does not know for this channel (it answers 400): never deliverable.
    stranger = "U" + "e" * 32
    await webhook(svc, line_event("01HWF", user=stranger, text="ท่อแตก หมู่ 1"))
    known, unknown = acknowledgements(world)
    dead = dead_letters(svc)

    line.fail_next[:] = [500, 429]
    async with TestKafkaBroker(svc.runtime.broker) as broker:
        await broker.publish(known, topic=Topic.NOTIFICATION_REQUESTED.value)
        assert line.answered == [500, 429, 200] and not dead
        await broker.publish(unknown, topic=Topic.NOTIFICATION_REQUESTED.value)
    assert len(dead) == 1 and json.loads(dead[0][0]) == json.loads(unknown.to_bytes())
    assert "LINE push answered 400" in dead[0][1]["x-dlq-reason"]
    assert [p["to"] for p in line.pushes] == [CITIZEN]


def test_off_without_a_token_and_the_token_is_checked() -> None:
    off = service(World())
    assert not {
        Topic.NOTIFICATION_REQUESTED.value,
        Topic.SURVEY_REQUESTED.value,
    } & set(off.runtime.groups.values())
    for placeholder in ("changeme", "<channel access token>", "   "):
        with pytest.raises(ValidationError, match="placeholder"):
            IntakeSettings(
                env="dev",
                line_channel_secret=SECRET,
                line_channel_access_token=SecretStr(placeholder),
            )
    with pytest.raises(ValidationError, match="published dev token"):
        IntakeSettings(
            env="production",
            line_channel_secret="a-real-secret",
            open311_api_keys="a-real-key",
            vault_key="HyjrxUvdKc6dXd6wJtUSTJc2wUKw2YZkxcQGzaMCPN4=",
            line_channel_access_token=SecretStr(DEV_LINE_TOKEN),
        )
    on = IntakeSettings(env="dev", line_channel_access_token=SecretStr("a" * 40))
    assert on.line_push and on.portal_url == "http://127.0.0.1:8005"
