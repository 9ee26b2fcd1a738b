"""Metric labels come from fixed sets: what a message or a request says never becomes a series."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from shared.clock import FixedClock
from shared.dead_letters import DeadLetterOffice, topic_label
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
