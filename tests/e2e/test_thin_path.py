"""The thin path on real Kafka and FerretDB: submission -> case.received -> assigned case."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from shared.roles import Role
from tests.conftest import eventually, running
from tests.signing import EXECUTIVE, as_

CLERK = as_(Role.OFFICER, officer_id="desk", department="office")

pytestmark = pytest.mark.e2e


async def test_a_submission_becomes_one_assigned_case(real_settings: Any) -> None:
    intake = create_intake(real_settings(IntakeSettings))
    routing = create_routing(real_settings(RoutingSettings))
    async with running(intake) as intake_http, running(routing) as routing_http:
        intake_http.headers.update(CLERK)  # the desk clerk types in a phone call
        routing_http.headers.update(EXECUTIVE)
        body = {
            "channel": "phone",
            "kind": "complaint",
            "text": "น้ำประปาไม่ไหล หมู่ที่ ๒",
            "channel_message_id": "call-001",
        }
        first = await intake_http.post("/v1/submissions", json=body)
        again = await intake_http.post("/v1/submissions", json=body)
        assert first.status_code == 202 and again.status_code == 202
        case_id = first.json()["case_id"]
        assert again.json() == {**first.json(), "duplicate": True}

        async def assigned() -> Any:
            r = await routing_http.get(f"/v1/cases/{case_id}")
            return r.json() if r.status_code == 200 and r.json()["status"] == "assigned" else None

        case = await eventually(assigned)
        assert case["officer"] and case["department"]
        listed = await routing_http.get("/v1/cases", params={"channel_message_id": "call-001"})
        assert [c["case_id"] for c in listed.json()["items"]] == [case_id]
        assert (await routing_http.get("/v1/cases/SPT-0000-000000")).status_code == 404
        health = await routing_http.get("/healthz")
        assert health.status_code == 200
