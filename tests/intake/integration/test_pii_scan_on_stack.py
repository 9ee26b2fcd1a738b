"""The PII scan (tools/pii_scan.py) over the demo's intake stage on the real stack: intake and
routing in process, the demo's sample reports through every channel, then every topic under
the run's prefix and every GET an auditor or anyone may call on both services, scanned for
the phones, LINE ids and names the demo sent. None may show."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from shared.roles import Role
from tests.conftest import eventually, running
from tests.signing import AUDITOR, EXECUTIVE, TEST_IDP
from tools import pii_scan
from tools.demo import traffy
from tools.demo.context import DemoContext, Report
from tools.demo.stages import intake as stage

pytestmark = pytest.mark.integration


async def desk(username: str) -> str:
    return TEST_IDP.token(Role.OFFICER, officer_id=username, department="office")


GIVEN = ("มาลี", "สมศรี", "บุญมา", "ชูใจ", "จันทร์เพ็ญ", "ลำดวน", "เกษร")


def some_reports(n: int = 30) -> list[Report]:
    """The demo's sample, made personal (a name, a number) and enough of it for every
    channel of the demo's mix."""
    sample = [r for r in traffy.sample() if r.text]
    out = []
    for i in range(n):
        base = sample[i % len(sample)]
        given = GIVEN[i % len(GIVEN)]
        text = f"{base.text} ติดต่อนางสาว{given} ศรีสุข โทร 08{i % 10}-555-{i:04d}"
        out.append(replace(base, ticket_id=f"PII-{i:03d}", text=text))
    return out


class ByHost(httpx.AsyncBaseTransport):
    """Requests to http://<service>/... go to that service's in-process client."""

    def __init__(self, clients: dict[str, httpx.AsyncClient]) -> None:
        self.clients = clients

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        client = self.clients[request.url.host]
        r = await client.request(
            request.method, request.url.raw_path.decode(), headers=request.headers
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


async def test_nothing_the_demo_sent_shows_on_kafka_or_to_an_auditor(
    real_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = real_settings(IntakeSettings)
    monkeypatch.setenv("RUAM_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
    monkeypatch.delenv("OPEN311_API_KEYS", raising=False)
    monkeypatch.delenv("LINE_CHANNEL_SECRET", raising=False)
    routing_settings = real_settings(RoutingSettings)  # the same prefix and database
    reports = some_reports()
    needles = pii_scan.demo_input(reports)
    assert needles.phones and needles.line_ids and needles.names  # the sample has them all
    # What the scan looks for is there in what the demo sent.
    assert {h.kind for h in pii_scan.find(needles, reports[0].text, "input")} == {"phone", "name"}
    async with (
        running(create_intake(settings)) as intake,
        running(create_routing(routing_settings)) as routing,
    ):
        ctx = DemoContext(
            urls={"intake": "http://service"},
            client=intake,
            reports=reports,
            data_path=None,
            sign_in=desk,
        )
        await stage.run(ctx)
        case_ids = set(ctx.results["intake"]["accepted"].values())

        async def all_routed() -> Any:
            r = await routing.get("/v1/cases", params={"limit": 100}, headers=EXECUTIVE)
            seen = {c["case_id"] for c in r.json()["items"]} if r.status_code == 200 else set()
            return case_ids <= seen or None

        await eventually(all_routed, timeout=60)
        topics = await pii_scan.read_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
        routes = [g for g in pii_scan.readable_routes() if g.service in ("intake", "routing")]
        names = {p for g in routes for p in pii_scan._PARAM.findall(g.path)}
        values = pii_scan.values_in((t for ts in topics.values() for t in ts), names | {"case_id"})
        async with httpx.AsyncClient(
            transport=ByHost({"intake": intake, "routing": routing})
        ) as client:
            answers, statuses = await pii_scan.api_answers(
                {"intake": client, "routing": client},
                {"intake": "http://intake", "routing": "http://routing"},
                routes,
                {"anonymous": {}, "auditor": AUDITOR},
                values,
            )
    assert {"case.received", "public.cases", "notification.requested"} <= {
        t.removeprefix(settings.topic_prefix) for t in topics
    }
    assert len(values["case_id"]) >= len(case_ids)
    # Each case was shown: by Open311 anonymously and by routing to the auditor.
    assert sum(1 for where, _ in answers if "/v1/cases/" in where) >= len(case_ids)
    assert statuses["200"] > 2 * len(case_ids)
    hits = [
        h
        for topic, texts in topics.items()
        for n, text in enumerate(texts)
        for h in pii_scan.find(needles, text, f"{topic} #{n}")
    ]
    hits += [h for where, text in answers for h in pii_scan.find(needles, text, where)]
    assert hits == []
