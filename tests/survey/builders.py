"""Events and wiring the survey tests share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from services.survey.adapters.config_files import load_config
from services.survey.bootstrap import SurveyService, create_service
from services.survey.handlers import SurveyHandlers
from services.survey.metrics import SurveyMetrics
from services.survey.settings import SurveySettings
from shared.clock import FixedClock
from shared.events.cases import CaseResolved, CaseResolvedPayload
from tests.fakes import FakePublisher
from tests.survey.fakes import (
    FakeAggregateStore,
    FakeAlertRepository,
    FakeResponseRepository,
    FakeSurveyRepository,
    Ops,
    SequentialTokens,
)

ORG = "sraphonthong"
# 10:00 in Bangkok, mid-May 2026: fiscal year 2569.
NOW = datetime(2026, 5, 15, 3, 0, tzinfo=UTC)

ALL_FIVE = {"process": 5, "channels": 5, "staff": 5, "facilities": 5, "quality": 5}


def answers(score: int = 5, fixed: str = "yes", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {q: score for q in ALL_FIVE}
    body["fixed"] = fixed
    body.update(over)
    return body


def resolved(
    case_id: str = "SPT-2569-000001",
    *,
    seq: int = 5,
    department: str = "engineering",
    category: str | None = "road",
    channel: str = "line",
    kind: str = "complaint",
    at: datetime = NOW - timedelta(hours=2),
) -> CaseResolved:
    return CaseResolved(
        org_id=ORG,
        payload=CaseResolvedPayload.model_validate(
            {
                "case_id": case_id,
                "kind": kind,
                "channel": channel,
                "department": department,
                "officer_id": "eng-01",
                "category": category,
                "contact_ref": "ct_abc",
                "resolution": "ซ่อมถนนเรียบร้อยแล้ว",
                "received_at": at - timedelta(days=3),
                "resolved_at": at,
                "seq": seq,
            }
        ),
    )


@dataclass
class Wired:
    handlers: SurveyHandlers
    publisher: FakePublisher
    surveys: FakeSurveyRepository
    responses: FakeResponseRepository
    aggregates: FakeAggregateStore
    alerts: FakeAlertRepository
    clock: FixedClock
    ops: Ops


def wired(now: datetime = NOW) -> Wired:
    publisher = FakePublisher()
    ops = Ops()
    surveys = FakeSurveyRepository(publisher)
    responses = FakeResponseRepository(publisher, ops)
    aggregates = FakeAggregateStore(ops)
    alerts = FakeAlertRepository(publisher)
    clock = FixedClock(now)
    handlers = SurveyHandlers(
        surveys,
        responses,
        aggregates,
        alerts,
        clock,
        SurveyMetrics(CollectorRegistry()),
        load_config(),
        org_id=ORG,
        token_ttl=timedelta(days=30),
        public_base_url="https://survey.example/s/",
        tokens=SequentialTokens(),
    )
    return Wired(handlers, publisher, surveys, responses, aggregates, alerts, clock, ops)


def service_on(w: Wired) -> SurveyService:
    """The whole survey service (API, subscriptions) on the wired fakes."""
    return create_service(
        SurveySettings(),
        surveys=w.surveys,
        responses=w.responses,
        aggregates=w.aggregates,
        alerts=w.alerts,
        clock=w.clock,
    )
