"""shared.logs: one JSON object a line, naming the event and the trace, and never a
citizen's words or contact."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from faststream.kafka import TestKafkaBroker
from opentelemetry.sdk.trace import TracerProvider

from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.logs import JsonFormatter, handling
from shared.topics import Topic
from tests.intake.messaging.test_subscribers import raw, setup
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import NOW, received


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def every_line() -> Iterator[Lines]:
    handler, root = Lines(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_line_names_the_event_it_is_about_and_the_trace() -> None:
    event = received("SPT-2569-000042")
    tracer = TracerProvider().get_tracer("test")
    with every_line() as logs, handling(event), tracer.start_as_current_span("work") as span:
        logging.getLogger("ruam.test").warning("assigned to %s", "eng-somchai")
    line = json.loads(logs.lines[-1])
    assert line["message"] == "assigned to eng-somchai" and line["level"] == "WARNING"
    assert line["event_id"] == str(event.event_id) and line["type"] == "CaseReceived"
    assert line["case_id"] == "SPT-2569-000042" and line["service"] == "test"
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    with every_line() as logs:
        logging.getLogger("ruam.test").info("between events")
    assert "case_id" not in json.loads(logs.lines[-1])


PERSONAL = ("สมชาย ใจดี", "0812345678", "somchai@example.com", "1101700203451")
TEXT = "นายสมชาย ใจดี โทร 0812345678 somchai@example.com บัตร 1101700203451 ไฟถนนดับ"


async def test_no_line_carries_the_personal_data_of_what_was_handled() -> None:
    world, intake = setup()
    repo = FakeCaseRepository()
    routing = create_routing(
        RoutingSettings(),
        cases=repo,
        directories=StaticDirectories(),
        ranker=FakeRanker(),
        clock=FixedClock(NOW),
    )
    submission = json.dumps({"kind": "complaint", "text": TEXT, "contact": {"phone": PERSONAL[1]}})
    with every_line() as logs:
        async with TestKafkaBroker(intake.runtime.broker) as broker:
            await broker.publish(raw("web", submission), topic=Topic.INTAKE_RAW.value)
            # Poison: refused, dead-lettered, its reason logged.
            await broker.publish(raw("web", "{" + TEXT), topic=Topic.INTAKE_RAW.value)
            await broker.publish(
                raw("web", json.dumps({"kind": "nonsense", "text": TEXT})),
                topic=Topic.INTAKE_RAW.value,
            )
        async with TestKafkaBroker(routing.runtime.broker) as broker:
            await broker.publish(
                received("SPT-2569-000007", text=TEXT, original_text=TEXT),
                topic=Topic.CASE_RECEIVED.value,
            )
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 1  # the valid one became a case
    assert await repo.get("SPT-2569-000007") is not None  # routing handled its case
    assert sum("dead-lettered" in line for line in logs.lines) == 2  # both poisons, with reasons
    for line in logs.lines:
        for personal in PERSONAL:
            assert personal not in line, line
