"""A citizen who wrote on LINE is answered there, on the real Kafka and FerretDB: the case
is stored, its acknowledgement travels on `notification.requested`, intake's own consumer
opens the contact in the vault and pushes the case number to a server that answers as LINE
does; survey's invitation on `survey.requested` follows the same way, and a question about
the case asked at once is answered by LINE's reply, and a photo is copied into the vault."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from shared.events.survey import SurveyRequested, SurveyRequestedPayload
from shared.line import DEV_LINE_TOKEN
from tests import fake_line
from tests.conftest import eventually, running
from tests.intake.unit.helpers import line_body, line_event, post_line

pytestmark = pytest.mark.integration

SECRET = "stack-secret"
PORTAL = "https://sraphonthong.example"


async def test_a_line_citizen_is_answered_through_kafka_and_the_vault(real_settings: Any) -> None:
    user = "U" + uuid.uuid4().hex
    with fake_line.running(fake_line.FakeLine(DEV_LINE_TOKEN)) as line:
        intake = create_intake(
            real_settings(
                IntakeSettings,
                env="dev",
                line_channel_secret=SECRET,
                line_channel_access_token=DEV_LINE_TOKEN,
                line_api_base_url=line.url,
                line_data_base_url=line.url,
                portal_public_base_url=PORTAL,
            )
        )
        body = line_body(
            line_event("STACKPUSH1", user=user, at=datetime.now(UTC), text="ไฟถนนดับ หมู่ 4")
        )

        async def pushed(count: int) -> list[dict[str, Any]] | None:
            mine = [p for p in line.pushes if p["to"] == user]
            return mine if len(mine) >= count else None

        async with running(intake) as http:
            r = await post_line(http, body, SECRET)
            assert r.status_code == 200, r.text
            case_id = r.json()["events"][0]["case_id"]
            (ack,) = await eventually(lambda: pushed(1), timeout=60)
            text = ack["messages"][0]["text"]
            assert case_id in text and f"{PORTAL}/track/{case_id}" in text

            record = await intake.handlers.submissions.get("line:STACKPUSH1")
            assert record is not None and record.contact_ref
            link = f"{PORTAL}/survey/{uuid.uuid4().hex}"
            invitation = SurveyRequested(
                org_id=intake.settings.org_id,
                payload=SurveyRequestedPayload(
                    survey_id=f"sv-{case_id}",
                    case_id=case_id,
                    channel="line",
                    recipient_ref=record.contact_ref,
                    token="t",
                    link=link,
                    expires_at=datetime.now(UTC) + timedelta(days=30),
                    questionnaire_version="v1",
                ),
            )
            await intake.runtime.publisher.publish(SurveyRequested.topic, case_id, invitation)
            _, survey = await eventually(lambda: pushed(2), timeout=60)
            assert link in survey["messages"][0]["text"]

            # Asked after the case at once: the status goes as LINE's free reply, recorded
            # in FerretDB so that a redelivery sends nothing again.
            ask = line_event(
                "STACKPUSH2",
                user=user,
                at=datetime.now(UTC),
                text=case_id,
                reply_token=line.issue(user),
            )
            r = await post_line(http, line_body(ask), SECRET)
            assert r.json()["events"][0]["asked_about"] == case_id, r.text

            async def replied() -> dict[str, Any] | None:
                return next((m for m in line.replies if m["to"] == user), None)

            reply = await eventually(replied, timeout=40)
            assert case_id in reply["messages"][0]["text"]
            assert len(await pushed(0) or []) == 2  # not pushed as well

            # A photo and a voice message sent on LINE are copied into the vault by
            # intake's own consumers.
            photo_id, voice_id = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
            line.contents[photo_id] = (b"\xff\xd8\xff\xe0 a photo \xff\xd9", "image/jpeg")
            line.contents[voice_id] = (b"\x00\x00\x00\x1cftypM4A  speech", "audio/x-m4a")
            now = datetime.now(UTC)
            snap = line_event("STACKPUSH3", user=user, at=now, image=photo_id)
            voice = line_event("STACKPUSH4", user=user, at=now, image=voice_id, sent="audio")
            r = await post_line(http, line_body(snap, voice), SECRET)
            assert r.json()["events"][0]["case_id"], r.text

            async def unaudited() -> None:  # the test reads it, not a person
                return None

            async def kept() -> tuple[bytes, str] | None:
                return await intake.handlers.line_media(photo_id, unaudited)

            async def spoken() -> tuple[bytes, str] | None:
                return await intake.handlers.line_media(voice_id, unaudited)

            data, media_type = await eventually(kept, timeout=60)
            assert data == line.contents[photo_id][0] and media_type == "image/jpeg"
            data, media_type = await eventually(spoken, timeout=60)
            assert data == line.contents[voice_id][0] and media_type == "audio/mp4"
