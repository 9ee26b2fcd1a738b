"""One submission's trace, in the console exporter's output: intake's HTTP span, its
publish, routing's consume of case.received and its publish of case.assigned, one trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from shared.roles import Role
from tests.conftest import eventually, running
from tests.signing import EXECUTIVE, as_

pytestmark = pytest.mark.e2e
CLERK = as_(Role.OFFICER, officer_id="desk", department="office")


def spans(printed: str) -> list[dict[str, Any]]:
    """The JSON objects the console exporter printed, one after the other."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while (start := printed.find("{", at)) >= 0:
        try:
            obj, at = decoder.raw_decode(printed, start)
        except ValueError:
            at = start + 1
            continue
        if isinstance(obj, dict) and "context" in obj:
            out.append(obj)
    return out


async def test_a_submission_is_one_trace_through_intake_and_routing(
    real_settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    intake = create_intake(real_settings(IntakeSettings, trace_exporter="console"))
    routing = create_routing(real_settings(RoutingSettings, trace_exporter="console"))
    async with running(intake) as intake_http, running(routing) as routing_http:
        intake_http.headers.update(CLERK)
        routing_http.headers.update(EXECUTIVE)
        body = {"channel": "phone", "kind": "complaint", "text": "ไฟดับ", "channel_message_id": "t1"}
        posted = await intake_http.post("/v1/submissions", json=body)
        assert posted.status_code == 202
        case_id = posted.json()["case_id"]

        async def assigned() -> bool:
            r = await routing_http.get(f"/v1/cases/{case_id}")
            return r.status_code == 200 and r.json()["status"] == "assigned"

        await eventually(assigned, timeout=60)

        seen: list[dict[str, Any]] = []
        wanted = {
            ("ruam-intake", "SpanKind.SERVER"),
            ("ruam-intake", "SpanKind.PRODUCER"),
            ("ruam-routing", "SpanKind.CONSUMER"),
            ("ruam-routing", "SpanKind.PRODUCER"),
        }

        async def complete() -> list[dict[str, Any]]:
            seen.extend(spans(capsys.readouterr().out))
            http = [s for s in seen if s["name"] == "POST /v1/submissions"]
            if not http:
                return []
            trace_id = http[0]["context"]["trace_id"]
            mine = [s for s in seen if s["context"]["trace_id"] == trace_id]
            kinds = {(s["resource"]["attributes"]["service.name"], s["kind"]) for s in mine}
            return mine if wanted <= kinds else []

        try:
            trace = {"all": await eventually(complete, timeout=30)}
        except AssertionError:
            summary = sorted(
                {
                    (
                        s["context"]["trace_id"][-6:],
                        s["resource"]["attributes"]["service.name"],
                        s["kind"],
                        s["name"],
                        (s.get("parent_id") or "")[-6:],
                    )
                    for s in seen
                }
            )
            raise AssertionError(f"spans seen: {summary}") from None
        by_id = {s["context"]["span_id"]: s for s in trace["all"]}
        consume = next(
            s
            for s in trace["all"]
            if s["kind"] == "SpanKind.CONSUMER" and s["name"].endswith("case.received process")
        )
        # routing's handling descends, through Kafka's headers, from intake's request.
        chain, parent = [], consume.get("parent_id")
        while parent in by_id:
            chain.append(by_id[parent]["resource"]["attributes"]["service.name"])
            parent = by_id[parent].get("parent_id")
        assert "ruam-intake" in chain
