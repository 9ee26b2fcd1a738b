"""The operator's gauges on the real stack: lag read from the broker, the outbox's backlog
from the markers, the dead letters waiting from the office's store."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from shared.roles import Role
from tests.conftest import eventually, running
from tests.signing import as_

pytestmark = pytest.mark.e2e
CLERK = as_(Role.OFFICER, officer_id="desk", department="office")


def samples(text: str, name: str) -> dict[str, float]:
    return {
        labels: float(value)
        for labels, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M)
    }


async def test_intake_reports_its_lag_backlog_and_letters(real_settings: Any) -> None:
    intake = create_intake(real_settings(IntakeSettings, ops_every_seconds=0.3))
    async with running(intake) as http:
        http.headers.update(CLERK)
        body = {"channel": "phone", "kind": "complaint", "text": "ไฟดับ", "channel_message_id": "c1"}
        assert (await http.post("/v1/submissions", json=body)).status_code == 202

        async def reported() -> dict[str, float]:
            text = (await http.get("/metrics")).text
            lag = samples(text, "ruam_consumer_lag")
            raw = {k: v for k, v in lag.items() if 'topic="intake.raw"' in k}
            backlog = samples(text, "ruam_outbox_backlog")
            letters = samples(text, "ruam_dead_letters_waiting")
            ready = len(raw) == 3 and backlog and letters
            return {**raw, **backlog, **letters} if ready else {}

        found = await eventually(reported, timeout=60)
        # Every partition of the raw topic, read by the broker, nothing behind.
        assert [v for k, v in found.items() if "intake.raw" in k and "group" in k] == [0.0] * 3
        assert found['collection="submissions",service="intake"'] == 0.0  # published
        assert found['service="intake",topic="intake.raw"'] == 0.0
        info = samples((await http.get("/metrics")).text, "ruam_build_info")
        assert list(info.values()) == [1.0]
