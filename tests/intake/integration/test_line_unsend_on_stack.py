"""A LINE message taken back (unsend) on the real Kafka and FerretDB: LINE's message id finds
the message's key by `_id` in `submission_keys`, its words leave the vault, and the case
stays with the withdrawal on `case.amended` for routing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.bootstrap import create_service as create_intake
from services.intake.domain.record import WITHDRAWN_TEXT
from services.intake.settings import IntakeSettings
from tests.conftest import running
from tests.intake.unit.helpers import line_body, line_event, post_line
from tests.intake.unit.test_line_unsend import CITIZEN, unsend

pytestmark = pytest.mark.integration

SECRET = "stack-secret"


async def test_a_message_taken_back_leaves_the_vault_on_the_stack(real_settings: Any) -> None:
    intake = create_intake(real_settings(IntakeSettings, line_channel_secret=SECRET))
    sent = "UNSEND" + uuid.uuid4().hex[:12].upper()
    report = line_event(sent, user=CITIZEN, at=datetime.now(UTC), text="น้ำประปาไม่ไหล หมู่ 6")
    async with running(intake) as http:
        r = await post_line(http, line_body(report), SECRET)
        case_id = r.json()["events"][0]["case_id"]
        record = await intake.handlers.submissions.get(f"line:{sent}")
        assert record is not None and record.text_ref
        assert await intake.handlers.vault.read(record.text_ref) == "น้ำประปาไม่ไหล หมู่ 6"
        back = unsend(sent + "-U", f"m-{sent}", at=datetime.now(UTC))
        r = await post_line(http, line_body(back), SECRET)
        assert r.json()["events"] == [{"id": sent + "-U", "case_id": case_id, "withdrawn": True}]
        assert await intake.handlers.vault.read(record.text_ref) is None
        after = await intake.handlers.submissions.get_case(case_id)
        assert after is not None and after.text_ref is None
        assert after.public.text == WITHDRAWN_TEXT and after.withdrawn == [f"line:{sent}"]
