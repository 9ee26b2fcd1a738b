"""The audit trail on the real broker and FerretDB: an officer's action in routing reaches
compliance's trail once, and only auditors and executives may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.compliance.bootstrap import create_service as create_compliance
from services.compliance.settings import ComplianceSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.kafka import topic_name
from shared.roles import Role
from shared.topics import Topic
from tests.conftest import eventually, running
from tests.routing.fakes import FakeRanker
from tests.routing.unit.test_handlers import received
from tests.signing import AUDITOR, EXECUTIVE, PLANNER, as_

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
CASE = "SPT-2569-000777"
ANAN = as_(Role.OFFICER, officer_id="eng-anan", department="engineering")


async def test_an_officers_action_is_on_the_trail_once_for_auditors_only(
    real_settings: Any,
) -> None:
    routing = create_routing(
        real_settings(RoutingSettings), ranker=FakeRanker(), clock=FixedClock(NOW)
    )
    compliance = create_compliance(real_settings(ComplianceSettings))
    async with running(routing) as cases, running(compliance) as trail:
        await eventually(lambda: routing.runtime.broker.ping(timeout=1.0))
        event = received(CASE, received_at=NOW - timedelta(hours=1), location={"village_no": 5})
        await routing.runtime.broker.publish(
            event.to_bytes(),
            topic=topic_name(routing.settings, Topic.CASE_RECEIVED),
            key=CASE.encode(),
        )

        async def assigned() -> bool:
            r = await cases.get(f"/v1/cases/{CASE}", headers=EXECUTIVE)
            return r.status_code == 200

        await eventually(assigned)
        body = {"action": "acknowledge", "command_id": "audit-ack-1"}
        first = await cases.post(f"/v1/cases/{CASE}/actions", json=body, headers=ANAN)
        again = await cases.post(f"/v1/cases/{CASE}/actions", json=body, headers=ANAN)
        assert first.status_code == again.status_code == 200

        async def recorded() -> Any:
            r = await trail.get("/v1/audit", params={"target": f"case:{CASE}"}, headers=AUDITOR)
            items = r.json()["items"] if r.status_code == 200 else []
            return items or None

        (record,) = await eventually(recorded)
        assert (record["action"], record["officer_id"], record["service"]) == (
            "case.acknowledge",
            "eng-anan",
            "routing",
        )
        assert record["before"]["status"] == "assigned"
        assert record["after"]["status"] == "acknowledged"
        assert record["roles"] == ["officer"] and record["subject"] == "eng-anan"
        # The repeat of the same command is the same act: still one record.
        listed = await trail.get(
            "/v1/audit", params={"action": "case.acknowledge"}, headers=EXECUTIVE
        )
        assert [r["target"] for r in listed.json()["items"]] == [f"case:{CASE}"]
        for who in (PLANNER, ANAN):
            assert (await trail.get("/v1/audit", headers=who)).status_code == 403
        assert (await trail.get("/v1/audit")).status_code == 401
