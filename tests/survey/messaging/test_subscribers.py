"""The survey subscriptions on FastStream's in-memory broker (no real Kafka)."""

from __future__ import annotations

from faststream.kafka import TestKafkaBroker

from services.survey.domain.model import ResponseSubmission, Slice
from shared.events.survey import SurveyResponded
from shared.topics import Topic
from tests.fakes import dead_letters
from tests.survey.builders import NOW, ORG, answers, resolved, service_on, wired


async def test_case_resolved_on_kafka_asks_for_a_survey() -> None:
    w = wired()
    service = service_on(w)
    async with TestKafkaBroker(service.runtime.broker) as broker:
        await broker.publish(resolved(), topic=Topic.CASE_RESOLVED.value, key=b"SPT-2569-000001")
    (survey,) = await w.surveys.of_case("SPT-2569-000001")
    assert survey.expires_at > NOW
    assert len(w.publisher.on(Topic.SURVEY_REQUESTED)) == 1


async def test_survey_responded_on_kafka_updates_the_figures_once() -> None:
    w = wired()
    survey = await w.handlers.on_case_resolved(resolved())
    assert survey is not None
    await w.handlers.respond(
        survey.token,
        ResponseSubmission(answers=answers(4)),
    )
    (event,) = [SurveyResponded.model_validate(e) for e in w.publisher.on(Topic.SURVEY_RESPONDED)]
    service = service_on(w)
    async with TestKafkaBroker(service.runtime.broker) as broker:
        await broker.publish(event, topic=Topic.SURVEY_RESPONDED.value)
        await broker.publish(event, topic=Topic.SURVEY_RESPONDED.value)
    bucket = await w.aggregates.get(Slice(ORG, 2569, "org", ORG))
    assert bucket is not None and bucket.responses == 1
    assert bucket.tally().count == 5 and bucket.tally().total == 20


async def test_a_poison_event_is_dead_lettered_and_the_partition_moves_on() -> None:
    w = wired()
    service = service_on(w)
    dead = dead_letters(service)

    async with TestKafkaBroker(service.runtime.broker) as broker:
        await broker.publish(b'{"type": "CaseResolved"}', topic=Topic.CASE_RESOLVED.value)
        await broker.publish(resolved(), topic=Topic.CASE_RESOLVED.value)
    assert dead and dead[0][0] == b'{"type": "CaseResolved"}'
    assert "invalid event" in dead[0][1]["x-dlq-reason"]
    assert await w.surveys.of_case("SPT-2569-000001")
