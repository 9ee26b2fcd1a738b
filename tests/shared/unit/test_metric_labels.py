"""Metric labels come from fixed sets: what a message or a request says never becomes a series."""

from __future__ import annotations

from datetime import UTC, datetime

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter

from shared.clock import FixedClock
from shared.dead_letters import DeadLetterOffice, topic_label
from shared.ops import Labelled, keep_faststream_children
from shared.topics import Topic
from tests.fakes import FakePublisher
from tests.intake.fakes import FakeDeadLetters


def test_a_topic_label_is_one_of_ours_without_the_test_runs_prefix() -> None:
    assert topic_label("case.received") == "case.received"
    assert topic_label("t0123456789.intake.raw") == "intake.raw"
    assert topic_label("made-up-by-a-header") == "other"
    assert topic_label("") == "other"
    assert {topic_label(f"x{n}") for n in range(100)} == {"other"}


async def test_a_dead_letter_with_a_forged_source_header_is_counted_as_other() -> None:
    registry = CollectorRegistry()
    office = DeadLetterOffice(
        FakeDeadLetters(),
        FakePublisher(),
        FixedClock(datetime(2026, 5, 16, tzinfo=UTC)),
        service="intake",
        registry=registry,
    )
    for n in range(20):
        headers = {"x-dlq-source-topic": f"forged-{n}", "x-dlq-offset": str(n)}
        await office.keep(b"{}", headers, None, f"0:{n}")
    await office.keep(b"[]", {"x-dlq-source-topic": Topic.INTAKE_RAW.value}, None, "0:99")
    labels = {
        s.labels["topic"]: s.value
        for m in office.stored.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert labels == {"other": 20.0, "intake.raw": 1.0}


def test_a_labelled_metric_hands_out_one_child_per_label_values_and_counts_into_it() -> None:
    registry = CollectorRegistry()
    counter = Labelled(Counter("t_handled_total", "t", ["topic", "outcome"], registry=registry))
    for _ in range(3):
        counter.labels("intake.raw", "handled").inc()
    counter.labels(topic="intake.raw", outcome="handled").inc()
    counter.labels("case.received", "handled").inc()
    assert counter.labels("intake.raw", "handled") is counter.labels("intake.raw", "handled")
    assert counter.labels("intake.raw", "handled") is not counter.labels("case.received", "handled")
    value = registry.get_sample_value
    assert value("t_handled_total", {"topic": "intake.raw", "outcome": "handled"}) == 4
    assert value("t_handled_total", {"topic": "case.received", "outcome": "handled"}) == 1


async def test_faststreams_own_metrics_are_kept_by_labels_and_still_count() -> None:
    registry = CollectorRegistry()
    prometheus = KafkaPrometheusMiddleware(registry=registry, app_name="t")
    # Every metric FastStream keeps: a FastStream that moved them fails here, not silently.
    assert keep_faststream_children(prometheus) >= 9
    broker = KafkaBroker(middlewares=[prometheus])
    seen: list[str] = []

    @broker.subscriber("t.in")
    async def handle(body: str) -> None:
        seen.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        for n in range(3):
            await test_broker.publish(f"m{n}", topic="t.in")
        await test_broker.publish("p", topic="t.other")
    assert seen == ["m0", "m1", "m2"]
    received = [
        s
        for metric in registry.collect()
        if metric.name == "faststream_received_messages"
        for s in metric.samples
        if s.name.endswith("_total")
    ]
    assert [(s.labels["handler"], s.value) for s in received] == [("t.in", 3.0)]
    published = {
        s.labels["destination"]: s.value
        for metric in registry.collect()
        if metric.name == "faststream_published_messages"
        for s in metric.samples
        if s.name.endswith("_total")
    }
    assert published == {"t.in": 3.0, "t.other": 1.0}
