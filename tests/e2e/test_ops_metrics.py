"""The operator's gauges on the real stack: lag read from the broker, the outbox's backlog
from the markers, the dead letters waiting from the office's store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
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


async def test_routing_reports_the_standing_of_open_cases(real_settings: Any) -> None:
    intake = create_intake(real_settings(IntakeSettings))
    deadline = datetime.now(UTC) + timedelta(days=30)
    routing = create_routing(
        real_settings(RoutingSettings, ops_every_seconds=0.3, oidc_signing_key_not_after=deadline)
    )
    async with running(intake) as intake_http, running(routing) as http:
        intake_http.headers.update(CLERK)
        body = {
            "channel": "phone",
            "kind": "complaint",
            "text": "ถนนพัง",
            "channel_message_id": "r1",
        }
        assert (await intake_http.post("/v1/submissions", json=body)).status_code == 202

        async def counted() -> dict[str, float]:
            text = (await http.get("/metrics")).text
            opened = samples(text, "ruam_cases_open")
            return {**opened, **samples(text, "ruam_cases_overdue")} if opened else {}

        found = await eventually(counted, timeout=60)
        assert sum(v for k, v in found.items() if "status=" in k) == 1  # the case, assigned
        overdue = {k: v for k, v in found.items() if "status=" not in k}
        assert overdue and set(overdue.values()) == {0.0}  # every department, none overdue
        text = (await http.get("/metrics")).text
        oldest = re.search(r"^ruam_case_oldest_unacknowledged_seconds (\S+)$", text, re.M)
        assert oldest is not None and float(oldest.group(1)) > 0  # nobody acknowledged it
        key = samples(text, "ruam_signing_key_expiry_seconds")
        assert len(key) == 1 and 29 * 86400 < next(iter(key.values())) <= 30 * 86400
