"""Consultations and the improvement plan through the API: counts by group only, what was
said redacted, a meeting's minutes linked to the matters raised at it, the plan's actions
with their metric before and after, survey's alert joining the plan once, and who may
change whose plan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.insight.bootstrap import InsightService
from services.insight.handlers import InsightHandlers
from services.insight.metrics import InsightMetrics
from shared.clock import FixedClock
from shared.events.cases import CaseReceived, CaseReceivedPayload, Channel, Kind, Location
from shared.events.envelope import new_event_id
from shared.events.survey import SatisfactionAlertPayload, SatisfactionAlertRaised
from shared.roles import Role
from tests.insight.builders import ORG, life
from tests.insight.fakes import (
    DIRECTORY,
    FakeCases,
    FakeConsultations,
    FakeFigures,
    FakePlans,
    insight_service,
)
from tests.signing import EXECUTIVE, as_

NOW = datetime(2026, 5, 20, 3, 0, tzinfo=UTC)  # FY2569 Q3
HEAD = as_(Role.HEAD, officer_id="eng-head", department="engineering")
OTHER_HEAD = as_(Role.HEAD, officer_id="hlt-head", department="health")
OFFICER = as_(Role.OFFICER, officer_id="eng-somchai", department="engineering")


@pytest.fixture
def service() -> InsightService:
    return insight_service(NOW)


@pytest.fixture
async def client(service: InsightService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://insight") as c:
        yield c


def opinion(n: int, activity: str, at: datetime) -> CaseReceived:
    return CaseReceived(
        event_id=new_event_id(activity, str(n)),
        org_id=ORG,
        occurred_at=at,
        payload=CaseReceivedPayload(
            case_id=f"SPT-2569-0009{n:02d}",
            channel=Channel.MEETING,
            kind=Kind.OPINION,
            text="ขอให้ซ่อมถนน",
            received_at=at,
            location=Location(village_no=4),
            links={"activity_id": activity},
        ),
    )


async def test_a_consultation_keeps_counts_and_redacted_words_and_links_its_minutes(
    service: InsightService, client: httpx.AsyncClient
) -> None:
    held = NOW - timedelta(days=3)
    for n in range(3):
        await service.handlers.on_event(opinion(n, "ACT-2569-04", held))
    r = await client.post(
        "/v1/consultations",
        headers=OFFICER,
        json={
            "consultation_id": "c-1",
            "held_on": "2026-05-17",
            "kind": "village_forum",
            "title": "ประชาคมหมู่ 4",
            "participants": {"residents": 38, "youth": 6},
            "said": ["นางสาวสมศรี มีสุข 089-765-4321 บอกว่าน้ำท่วมขังทุกปี"],
            "village_no": 4,
            "activity_id": "ACT-2569-04",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["people"] == 44 and body["fiscal_year"] == 2569 and body["quarter"] == 3
    assert "089-765-4321" not in r.text and "สมศรี" not in r.text
    assert "น้ำท่วมขังทุกปี" in body["said"][0]
    assert body["raised"]["received"] == 3
    # a retry is the same record
    again = await client.post("/v1/consultations", headers=OFFICER, json={**body_of(body)})
    assert again.status_code == 200
    listed = (await client.get("/v1/consultations?fy=2569", headers=HEAD)).json()
    assert [c["consultation_id"] for c in listed["consultations"]] == ["c-1"]


def body_of(view: dict[str, object]) -> dict[str, object]:
    keep = ("consultation_id", "held_on", "kind", "title", "participants", "said", "village_no")
    return {k: view[k] for k in keep}


async def test_names_are_not_groups(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/consultations",
        headers=OFFICER,
        json={
            "held_on": "2026-05-17",
            "kind": "village_forum",
            "title": "ประชาคม",
            "participants": {"นายสมชาย ใจดี": 1},
        },
    )
    assert r.status_code == 422


async def test_a_plan_shows_each_action_before_and_after(
    service: InsightService, client: httpx.AsyncClient
) -> None:
    # Q2 (Jan-Mar): 4 road cases, 2 reopened; Q3 (Apr-Jun): 4, none reopened.
    for n, (month, reopen) in enumerate(
        [
            (1, True),
            (1, True),
            (2, False),
            (3, False),
            (4, False),
            (4, False),
            (5, False),
            (5, False),
        ]
    ):
        for e in life(
            f"SPT-P-{n}",
            received_at=datetime(2026, month, 10, 3, tzinfo=UTC),
            category="road",
            department="engineering",
            resolve_after=timedelta(days=2),
            reopen=reopen,
        ):
            await service.handlers.on_event(e)
    base = "/v1/plans/engineering/2569/2"
    r = await client.post(
        base + "/findings", headers=HEAD, json={"finding_id": "f1", "text": "ถนนซ่อมแล้วพังซ้ำ"}
    )
    assert r.status_code == 201, r.text
    action = {
        "action_id": "a1",
        "finding_id": "f1",
        "text": "ตรวจรับงานซ่อมก่อนปิดเรื่อง",
        "owner": "eng-head",
        "due": "2026-04-30",
        "metric": "percent_reopened",
        "expected": "ต่ำกว่า 10%",
    }
    r = await client.post(base + "/actions", headers=HEAD, json=action)
    assert r.status_code == 201, r.text
    shown = r.json()["actions"][0]
    assert shown["before"] == 50.0 and shown["after"] == 0.0 and shown["after_quarter"] == "2569 Q3"
    follow = base + "/actions/a1/followups"
    r = await client.post(
        follow, headers=OFFICER, json={"note": "เริ่มตรวจรับทุกงาน", "status": "in_progress"}
    )
    assert r.status_code == 201
    r = await client.post(follow, headers=EXECUTIVE, json={"note": "ครบแล้ว", "status": "done"})
    assert r.status_code == 201 and r.json()["actions"][0]["status"] == "done"
    r = await client.post(follow, headers=OFFICER, json={"note": "อีกครั้ง", "status": "in_progress"})
    assert r.status_code == 409  # done: its follow-ups are closed
    # another department's head may read, not change, this plan
    assert (await client.get(base, headers=OTHER_HEAD)).status_code == 200
    r = await client.post(base + "/findings", headers=OTHER_HEAD, json={"text": "ไม่ใช่ของเรา"})
    assert r.status_code == 403
    r = await client.post(
        base + "/actions", headers=HEAD, json={**action, "action_id": "a2", "metric": "mood"}
    )
    assert r.status_code == 422


async def test_survey_alert_joins_the_plan_once(service: InsightService) -> None:
    h: InsightHandlers = service.handlers
    alert = SatisfactionAlertRaised(
        event_id=new_event_id("alert-1"),
        org_id=ORG,
        occurred_at=NOW,
        payload=SatisfactionAlertPayload(
            alert_id="alert-1",
            rule="dept-window",
            department="engineering",
            description_th="ความพึงพอใจกองช่างต่ำกว่าเกณฑ์ 80%",
            fiscal_year=2569,
        ),
    )
    await h.on_satisfaction_alert(alert)
    await h.on_satisfaction_alert(alert)  # redelivered
    plan = await h.get_plan(ORG, "engineering", 2569, 3)
    assert [f.finding_id for f in plan.findings] == ["alert-1"]
    assert [a.action_id for a in plan.actions] == ["alert-alert-1"]
    assert plan.actions[0].metric == "percent_satisfied"


def test_handlers_need_no_database() -> None:
    InsightHandlers(
        FakeCases(),
        FakeFigures(),
        FakeConsultations(),
        FakePlans(),
        DIRECTORY,
        FixedClock(NOW),
        InsightMetrics(CollectorRegistry()),
    )
