"""The operator's response-ratio gauge: case surveys answered per survey sent, by year."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from pymongo.asynchronous.database import AsyncDatabase

from services.survey.adapters.mongo_surveys import MongoResponseRates
from shared.mongo import Document
from tests.shared.unit.fakes_mongo import FakeDatabase


async def test_answered_case_surveys_per_survey_sent_by_fiscal_year() -> None:
    db = FakeDatabase()
    # FY 2569 runs from 1 Oct 2025 to 30 Sep 2026; 2570 from 1 Oct 2026.
    for n, at in enumerate(
        [datetime(2025, 11, 1, tzinfo=UTC)] * 4 + [datetime(2026, 10, 2, tzinfo=UTC)] * 2
    ):
        db["surveys"].docs[f"s{n}"] = {"_id": f"s{n}", "requested_at": at}
    answers = [("s0", 2569), ("s1", 2569), ("s4", 2570), (None, 2569)]  # the last: a campaign
    for n, (survey, year) in enumerate(answers):
        db["responses"].docs[f"r{n}"] = {"_id": f"r{n}", "survey_id": survey, "fiscal_year": year}
    rates = MongoResponseRates(cast("AsyncDatabase[Document]", db))
    assert await rates.by_year() == {2569: 0.5, 2570: 0.5}
