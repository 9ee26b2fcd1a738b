"""An event goes out in the trace that decided it, whoever publishes it: the caller's flush,
or the relay's sweep after a failed flush or a restart (the store keeps the traceparent with
each outbox item)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from shared.events.cases import CaseCommandIssued, CaseCommandPayload
from shared.outbox import Emission
from shared.store import AggregateStore, Cas
from shared.tracing import current_traceparent, producing
from tests.fakes import FakePublisher
from tests.shared.unit.fakes_mongo import fake_collection


def command(name: str) -> Emission:
    payload = CaseCommandPayload(case_id="SPT-2569-000001", action="note", command_id=name)
    return Emission.of(CaseCommandIssued(org_id="sraphonthong", payload=payload))


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def trace_of(traceparent: str | None) -> str:
    assert traceparent is not None
    return traceparent.split("-")[1]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def broker_away(cas: Cas) -> tuple[FakePublisher, AggregateStore]:
    """A store whose first publish fails, as when the broker is away."""
    publisher = FakePublisher(fail_next=1)
    return publisher, AggregateStore(fake_collection()[1], publisher, cas=cas)


async def saved_unpublished(store: AggregateStore, tracer: Tracer, span: str) -> str:
    """Create a1 with event c1 inside a span whose own flush fails; the span's trace id."""
    with tracer.start_as_current_span(span) as current:
        await store.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
        with pytest.raises(ConnectionError):
            await store.flush("a1")  # the caller's flush fails
        return f"{current.get_span_context().trace_id:032x}"


def test_outside_a_span_there_is_no_traceparent() -> None:
    assert current_traceparent() is None


@pytest.mark.parametrize("cas", list(Cas))
async def test_the_sweep_publishes_in_the_trace_of_the_save(
    cas: Cas, traced: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    publisher, store = broker_away(cas)
    tracer = traced[0].get_tracer("test")
    decided = await saved_unpublished(store, tracer, "POST /v1/submissions")
    assert [trace_of(p) for p in publisher.parents] == [decided]

    assert await store.sweep() == 1  # out of any span, later
    assert [p.json()["payload"]["command_id"] for p in publisher.sent] == ["c1"]
    assert [trace_of(p) for p in publisher.parents] == [decided, decided]


@pytest.mark.parametrize("cas", list(Cas))
async def test_events_of_two_traces_go_out_in_two_runs_in_order(
    cas: Cas, traced: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    publisher, store = broker_away(cas)
    tracer = traced[0].get_tracer("test")
    first = await saved_unpublished(store, tracer, "first")
    with tracer.start_as_current_span("second") as second:
        await store.save({"_id": "a1", "n": 2}, expected_version=1, emissions=[command("c2")])
        await store.flush("a1")
    traces = [first, f"{second.get_span_context().trace_id:032x}"]
    assert [p.json()["payload"]["command_id"] for p in publisher.sent] == ["c1", "c2"]
    assert [trace_of(p) for p in publisher.parents[1:]] == traces


async def test_a_save_outside_any_span_keeps_no_trace() -> None:
    fake, collection = fake_collection()
    store = AggregateStore(collection, FakePublisher(), cas=Cas.NATIVE)
    await store.save({"_id": "a1"}, expected_version=0, emissions=[command("c1")])
    assert "trace" not in fake.docs["a1"]["outbox"][0]


def test_a_publish_continues_the_given_parent_not_the_current_span(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("decided"):
        parent = current_traceparent()
    with tracer.start_as_current_span("sweep"), producing(provider, "case.received", 1, parent):
        pass
    publish = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER)
    sweep = next(s for s in exporter.get_finished_spans() if s.name == "sweep")
    assert hex_trace(publish) == trace_of(parent)
    assert hex_trace(publish) != hex_trace(sweep)
    assert publish.parent is not None and f"{publish.parent.span_id:016x}" in str(parent)
