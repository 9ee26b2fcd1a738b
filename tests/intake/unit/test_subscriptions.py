"""Which of intake's subscriptions let records gather before the broker answers a fetch."""

from __future__ import annotations

from typing import Any

from tests.intake.unit.api import service
from tests.intake.unit.helpers import World


def fetches(**settings: Any) -> dict[str, dict[str, int]]:
    """Each subscribed topic's fetch settings, as its consumer will be built."""
    runtime = service(World(), **settings).runtime
    # FastStream keeps what it will build each AIOKafkaConsumer with on the subscriber.
    subscribers: list[Any] = list(runtime.router.subscribers)
    return {
        topic.name: {k: v for k, v in sub._connection_args.items() if k.startswith("fetch_m")}
        for sub in subscribers
        for topic in sub.topics
    }


def test_raw_payloads_gather_into_convoys_and_routings_facts_are_taken_at_once() -> None:
    got = fetches(kafka_gather_ms=80, kafka_gather_bytes=32_768)
    # Where reports enter: the broker holds the fetch until 32 KiB wait or 80 ms passed.
    assert got["intake.raw"]["fetch_max_wait_ms"] == 80
    assert got["intake.raw"]["fetch_min_bytes"] == 32_768
    # Everything else answers at the first record; idle, it asks again every 5 s.
    others = {topic: f for topic, f in got.items() if topic != "intake.raw"}
    assert {"case.assigned", "case.status-changed", "intake.dlq"} <= set(others)
    for fetch in others.values():
        assert fetch["fetch_min_bytes"] == 1
        assert fetch["fetch_max_wait_ms"] == 5000


def test_no_gathering_when_turned_off() -> None:
    got = fetches(kafka_gather_ms=0)
    assert got["intake.raw"]["fetch_min_bytes"] == 1
    assert got["intake.raw"]["fetch_max_wait_ms"] == 5000
