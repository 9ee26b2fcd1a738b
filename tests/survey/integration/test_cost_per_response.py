"""What one survey.responded costs on the real FerretDB: the same commands, each by _id,
with 3 or with 1,000 responses stored (the defect: a scan per slice per response)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient, monitoring

from deploy.local.stack import Profile
from services.survey.adapters.config_files import load_config
from services.survey.adapters.mongo_surveys import (
    MongoAggregateStore,
    MongoAlertRepository,
    MongoResponseRepository,
    MongoSurveyRepository,
    response_to_document,
)
from services.survey.domain.model import ResponseSubmission
from services.survey.handlers import SurveyHandlers, response_from_event
from services.survey.metrics import SurveyMetrics
from shared.clock import FixedClock
from shared.events.survey import SurveyResponded
from shared.mongo import Document, by_id
from shared.topics import Topic
from tests.fakes import FakePublisher
from tests.survey.builders import NOW, answers, resolved
from tests.survey.fakes import SequentialTokens

pytestmark = pytest.mark.integration

# Where a command names what it touches: the filter of each statement.
FILTERS = {"find": ("filter",), "update": ("updates", "q"), "delete": ("deletes", "q")}


class Commands(monitoring.CommandListener):
    """Every command sent, as (command, collection), and every filter that is not by _id."""

    def __init__(self) -> None:
        self.sent: Counter[tuple[str, str]] = Counter()
        self.not_by_id: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get(name)
        self.sent[(name, target if isinstance(target, str) else "")] += 1
        if name not in FILTERS or by_id(event.command, name):
            return
        field, *inner = FILTERS[name]
        statements = event.command.get(field)
        filters = [s[inner[0]] for s in statements or []] if inner else [statements]
        self.not_by_id.append((name, filters))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_response_costs_the_same_by_id_commands_at_3_and_at_1000_stored(
    real_stack: Profile, isolation: str
) -> None:
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        real_stack.mongodb_url, tz_aware=True, retryWrites=False, event_listeners=[commands]
    )
    db = client[f"ruam_{isolation}"]
    publisher = FakePublisher()
    responses = MongoResponseRepository(db, publisher)
    handlers = SurveyHandlers(
        MongoSurveyRepository(db, publisher),
        responses,
        MongoAggregateStore(db),
        MongoAlertRepository(db, publisher),
        FixedClock(NOW),
        SurveyMetrics(CollectorRegistry()),
        load_config(),
        org_id="sraphonthong",
        token_ttl=timedelta(days=30),
        public_base_url="https://survey.example/s/",
        tokens=SequentialTokens(),
    )
    n = 0

    async def one_response() -> tuple[Counter[tuple[str, str]], SurveyResponded]:
        nonlocal n
        n += 1
        survey = await handlers.on_case_resolved(resolved(f"SPT-2569-{n:06d}"))
        assert survey is not None
        await handlers.respond(survey.token, ResponseSubmission(answers=answers(5)))
        event = SurveyResponded.model_validate(publisher.on(Topic.SURVEY_RESPONDED)[-1])
        commands.sent.clear()
        commands.not_by_id.clear()
        await handlers.on_survey_responded(event)
        assert commands.not_by_id == []
        return Counter(commands.sent), event

    try:
        for _ in range(2):
            await one_response()
        few, event = await one_response()
        # 1,000 more of the same department and month: the slices every scan used to read.
        template = response_from_event(event)
        docs = []
        for i in range(1000):
            template.response_id = f"rsp-seeded-{i:04d}"
            docs.append({**response_to_document(template), "counted": True, "version": 1})
        await db["responses"].insert_many(docs)
        many, _ = await one_response()
        assert many == few
        assert not {c for c, _ in many} & {"aggregate", "count", "getMore"}
        # Load; six buckets and a department month each read and replaced on their version
        # (our FerretDB build's compare-and-set: no claims); the window's earlier months
        # read; marked counted.
        assert many == Counter(
            {
                ("find", "responses"): 1,
                ("find", "satisfaction_buckets"): 6,
                ("update", "satisfaction_buckets"): 6,
                ("find", "satisfaction_days"): 4,
                ("update", "satisfaction_days"): 1,
                ("update", "responses"): 1,
            }
        )
        # The operator's recount may scan; it counts the seeded responses in.
        result = await handlers.rebuild()
        assert result["responses"] == 1004
        bucket = await MongoAggregateStore(db).all()
        org = next(b for b in bucket if b.slice.by == "org")
        assert org.responses == 1004
    finally:
        await client.drop_database(db.name)
        await client.close()
