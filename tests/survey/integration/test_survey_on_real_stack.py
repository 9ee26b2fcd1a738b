"""Survey on the real Kafka broker and FerretDB: the acceptance criteria of issue 5."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.kafka import KafkaMessage

from services.survey.bootstrap import create_service
from services.survey.settings import SurveySettings
from shared.events.cases import CaseResolved, CaseResolvedPayload
from shared.kafka import topic_name
from shared.roles import Role
from shared.store import STORE_FIELDS
from shared.thai import BANGKOK, fiscal_year_be
from shared.topics import Topic
from tests.conftest import eventually, running
from tests.signing import AUDITOR, OPERATOR, as_

ENGINEER = as_(Role.OFFICER, officer_id="eng-somchai", department="engineering")
CLERK = as_(Role.OFFICER, officer_id="fin-01", department="finance")

pytestmark = pytest.mark.integration

SCORES = {"SPT-2570-000101": 5, "SPT-2570-000102": 4, "SPT-2570-000103": 2}


def resolved_event(case_id: str, seq: int = 6) -> CaseResolved:
    at = datetime.now(UTC) - timedelta(minutes=5)
    return CaseResolved(
        org_id="sraphonthong",
        payload=CaseResolvedPayload.model_validate(
            {
                "case_id": case_id,
                "kind": "complaint",
                "channel": "traffy",
                "department": "engineering",
                "officer_id": "eng-01",
                "category": "road",
                "contact_ref": None,
                "resolution": "ซ่อมผิวถนนแล้ว",
                "received_at": at - timedelta(days=2),
                "resolved_at": at,
                "seq": seq,
            }
        ),
    )


def answers(score: int, fixed: str = "yes") -> dict[str, Any]:
    return {
        "process": score,
        "channels": score,
        "staff": score,
        "facilities": score,
        "quality": score,
        "fixed": fixed,
    }


def processed(service: Any, topic: str) -> int:
    """How many messages of a topic the service's subscribers finished handling."""
    name = topic.split(".", 1)[1]  # without the test's prefix, as the metric labels it
    total = 0
    for metric in service.runtime.registry.collect():
        for s in metric.samples:
            if (
                s.name == "ruam_messages_finished_total"
                and s.labels.get("topic") == name
                and s.labels.get("outcome") == "handled"
            ):
                total += int(s.value)
    return total


async def test_resolve_ask_answer_aggregate_replay_rebuild_report(real_settings: Any) -> None:
    service = create_service(real_settings(SurveySettings))
    settings = service.settings
    commands: list[dict[str, Any]] = []
    responded_raw: list[bytes] = []

    @service.runtime.broker.subscriber(
        topic_name(settings, Topic.CASE_COMMANDS),
        group_id=f"{settings.topic_prefix}test.commands",
        auto_offset_reset="earliest",
    )
    async def on_command(message: KafkaMessage) -> None:
        commands.append(json.loads(message.body))

    @service.runtime.broker.subscriber(
        topic_name(settings, Topic.SURVEY_RESPONDED),
        group_id=f"{settings.topic_prefix}test.responded",
        auto_offset_reset="earliest",
    )
    async def on_responded(message: KafkaMessage) -> None:
        responded_raw.append(message.body)

    # The citizen's token reaches them only in the invitation (survey.requested), which a
    # channel adapter delivers; no API lists it.
    invited: dict[str, str] = {}

    @service.runtime.broker.subscriber(
        topic_name(settings, Topic.SURVEY_REQUESTED),
        group_id=f"{settings.topic_prefix}test.requested",
        auto_offset_reset="earliest",
    )
    async def on_requested(message: KafkaMessage) -> None:
        payload = json.loads(message.body)["payload"]
        invited[payload["case_id"]] = payload["token"]

    fy = fiscal_year_be(datetime.now(UTC))
    async with running(service) as http:
        # `running` yields once start-up hooks ran, before the broker is connected
        # (FastStream's lifespan); wait for it, or the first publish fails.
        await eventually(lambda: _healthy(http))
        for case_id in SCORES:
            await service.runtime.publisher.publish(
                Topic.CASE_RESOLVED, case_id, resolved_event(case_id)
            )
        # A redelivered resolution asks nothing twice.
        await service.runtime.publisher.publish(
            Topic.CASE_RESOLVED, "SPT-2570-000101", resolved_event("SPT-2570-000101")
        )

        async def survey_of(case_id: str) -> Any:
            r = await http.get("/v1/surveys", params={"case_id": case_id}, headers=ENGINEER)
            return r.json()["items"] if r.status_code == 200 else None

        for case_id in SCORES:
            (survey,) = await eventually(lambda c=case_id: survey_of(c))  # type: ignore[misc]
            assert survey["status"] == "open" and survey["department"] == "engineering"
            assert "token" not in survey and "link" not in survey
        # Another department's officer sees none of them; nobody signed in, nothing.
        other = await http.get("/v1/surveys", params={"case_id": "SPT-2570-000101"}, headers=CLERK)
        assert other.json()["items"] == []
        anonymous = await http.get("/v1/surveys", params={"case_id": "SPT-2570-000101"})
        assert anonymous.status_code == 401
        await eventually(lambda: _async(len(invited) == len(SCORES)))
        tokens = dict(invited)

        questionnaire = (await http.get(f"/v1/surveys/{tokens['SPT-2570-000101']}")).json()
        assert {q["type"] for q in questionnaire["questions"]} == {"scale", "choice", "text"}
        fixed_q = next(q for q in questionnaire["questions"] if q["id"] == "fixed")
        assert fixed_q["options"] == ["yes", "no", "dont_know"] and fixed_q["label_th"]

        # A score of 6 gets 422 naming the field, and is not counted.
        bad = await http.post(
            f"/v1/surveys/{tokens['SPT-2570-000103']}/responses",
            json={"answers": {**answers(5), "quality": 6}},
        )
        assert bad.status_code == 422
        assert [d["field"] for d in bad.json()["details"]] == ["answers.quality"]

        for case_id, score in SCORES.items():
            fixed = "no" if case_id == "SPT-2570-000103" else "yes"
            r = await http.post(
                f"/v1/surveys/{tokens[case_id]}/responses",
                json={"answers": {**answers(score, fixed), "comment": "ขอบคุณ"}},
            )
            assert r.status_code == 201, r.text
        again = await http.post(
            f"/v1/surveys/{tokens['SPT-2570-000101']}/responses", json={"answers": answers(1)}
        )
        assert again.status_code == 409
        assert (await http.get("/v1/surveys/not-a-token")).status_code == 404

        async def figures() -> Any:
            body = (
                await http.get(
                    "/v1/satisfaction", params={"fiscal_year": str(fy), "by": "question"}
                )
            ).json()
            return body if body["total"]["responses"] == 3 else None

        body = await eventually(figures)
        quality = next(q for q in body["items"] if q["id"] == "quality")
        assert (quality["count"], quality["sum"], quality["satisfied"]) == (3, 11, 2)
        assert quality["distribution"] == {"2": 1, "4": 1, "5": 1}
        assert quality["percent_satisfied"] == 66.67 and quality["mean"] == 3.6667

        async def by_department() -> Any:
            # Each slice of a response is counted on its own: the org total above may be
            # in before the department's.
            body = (
                await http.get(
                    "/v1/satisfaction", params={"fiscal_year": str(fy), "by": "department"}
                )
            ).json()
            rows = [(d["value"], d["responses"]) for d in body["items"]]
            return body if rows == [("engineering", 3)] else None

        by_dep = await eventually(by_department)

        # "Not fixed" asks routing to reopen the case, once.
        await eventually(lambda: _async(bool(commands)))
        assert [(c["payload"]["case_id"], c["payload"]["action"]) for c in commands] == [
            ("SPT-2570-000103", "reopen")
        ]

        # Replaying every survey.responded a second time changes no aggregate.
        await eventually(lambda: _async(len(responded_raw) == 3))
        responded_topic = topic_name(settings, Topic.SURVEY_RESPONDED)
        # Every slice of every response done (the org total is only the first of six).
        # Both subscribers of the topic count: the service's and this test's.
        await eventually(lambda: _async(processed(service, responded_topic) >= 6))
        consumed = processed(service, responded_topic)
        before = await _buckets(service)
        days_before = await _buckets(service, "satisfaction_days")
        assert [d["_id"] for d in days_before] == [
            f"sraphonthong|engineering|{datetime.now(UTC).astimezone(BANGKOK):%Y-%m}"
        ]
        # A copy: this test's own subscriber appends each replayed message to the list as it
        # comes back, and a loop over the list itself would replay its own replays forever.
        for raw in list(responded_raw):
            await service.runtime.publisher.publish_raw(Topic.SURVEY_RESPONDED, None, raw)
        await eventually(lambda: _async(processed(service, responded_topic) >= consumed + 6))
        assert await _buckets(service) == before

        # A rebuild from the stored responses gives identical aggregates.
        assert (await http.post("/v1/satisfaction/rebuild", headers=AUDITOR)).status_code == 403
        rebuilt = await http.post("/v1/satisfaction/rebuild", headers=OPERATOR)
        assert rebuilt.status_code == 200 and rebuilt.json()["slices"] == len(before)
        assert await _buckets(service) == before
        await service.runtime.db["satisfaction_buckets"].delete_many({})
        await service.runtime.db["satisfaction_days"].delete_many({})
        rebuilt = await http.post("/v1/satisfaction/rebuild", headers=OPERATOR)
        assert rebuilt.status_code == 200 and rebuilt.json()["slices"] == len(before)
        assert await _buckets(service) == before
        assert await _buckets(service, "satisfaction_days") == days_before

        # The fiscal-year report: Thai, Buddhist-Era dates, chart embedded, same figures.
        report = (
            await http.get(f"/v1/reports/satisfaction/{fy}", params={"format": "json"})
        ).json()
        totals = (await http.get("/v1/satisfaction", params={"fiscal_year": str(fy)})).json()
        assert report["responses"] == totals["total"]["responses"] == 3
        assert report["overall"] == totals["total"]["overall"]
        assert report["departments"] == by_dep["items"]
        page = await http.get(f"/v1/reports/satisfaction/{fy}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert f"ปีงบประมาณ พ.ศ. {fy}" in html and "ตุลาคม" in html
        assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', html)
        assert f'id="responses">{report["responses"]}<' in html
        assert f'id="percent">{report["overall"]["percent_satisfied"]:.2f}<' in html
        chart = await http.get(f"/v1/reports/satisfaction/{fy}/chart.png")
        assert chart.content[:8] == b"\x89PNG\r\n\x1a\n"

        # The "not fixed" answer raised an alert that became an improvement action.
        alerts = (
            await http.get("/v1/alerts", params={"fiscal_year": str(fy)}, headers=AUDITOR)
        ).json()
        assert {a["rule"] for a in alerts["items"]} == {"not_fixed"}


async def _async(value: Any) -> Any:
    return value


async def _buckets(service: Any, collection: str = "satisfaction_buckets") -> list[dict[str, Any]]:
    # The figures, without the bookkeeping: the store's (version, outbox) and which
    # responses were added last (a rebuild from scratch remembers none).
    cursor = service.runtime.db[collection].find({}).sort("_id", 1)
    skip = {*STORE_FIELDS, "applied"}
    return [{k: v for k, v in doc.items() if k not in skip} async for doc in cursor]


async def _healthy(http: Any) -> bool:
    return bool((await http.get("/healthz")).status_code == 200)
