"""A LINE body that meets a database outage on the real Kafka and FerretDB: LINE hears
200, the body waits on intake.raw, and it becomes a case once the database answers again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from tests.conftest import eventually, running
from tests.intake.unit.helpers import line_body, line_event, post_line

pytestmark = pytest.mark.integration

SECRET = "stack-secret"


async def test_a_line_body_kept_through_an_outage_becomes_a_case(real_settings: Any) -> None:
    intake = create_intake(real_settings(IntakeSettings, line_channel_secret=SECRET))
    submissions = intake.handlers.submissions
    real_get = submissions.get
    outage = True

    async def get(key: str) -> Any:
        if outage:
            raise AutoReconnect("the database is away")
        return await real_get(key)

    submissions.get = get  # type: ignore[method-assign,assignment]
    body = line_body(
        line_event("STACKDEFER1", user="U" + "d" * 32, at=datetime.now(UTC), text="ไฟฟ้าดับทั้งซอย")
    )
    async with running(intake) as http:
        r = await post_line(http, body, SECRET)
        assert r.status_code == 200, r.text
        assert r.json()["events"] == [{"id": "STACKDEFER1", "case_id": None, "deferred": True}]
        outage = False

        async def filed() -> Any:
            return await real_get("line:STACKDEFER1")

        record = await eventually(filed, timeout=60)
        assert record.case_id
        again = await post_line(http, body, SECRET)
        assert again.json()["events"][0]["case_id"] == record.case_id
        assert again.json()["events"][0]["duplicate"] is True
