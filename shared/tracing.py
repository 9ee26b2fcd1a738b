"""OpenTelemetry traces across HTTP and Kafka: one submission's trace runs from the request
(or the raw message) through intake's publish, routing's consume and publish, to survey.

Off unless RUAM_TRACE_EXPORTER names an exporter: "console" prints each span as JSON to
stdout (a person following one case on a laptop), "otlp" sends them to a collector at
OTEL_EXPORTER_OTLP_ENDPOINT (OpenTelemetry's own variable). Each service gets a provider of
its own, named after it, so services built in one process (the tests) stay apart. The
trace travels in each message's headers (W3C traceparent): `producing` around a publish,
`consuming` around the handling of a message, `traced` around an HTTP request.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from faststream.message import StreamMessage
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from starlette.types import ASGIApp, Receive, Scope, Send


def provider_for(settings: ServiceSettings) -> TracerProvider | None:
    exporter = settings.trace_exporter.strip().lower()
    if not exporter:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource({"service.name": f"ruam-{settings.service_name}"}))
    if exporter == "console":
        # stdout as it is now: the exporter's default is the stream of when OpenTelemetry
        # was first imported, which a test's capture (or a redirect) has since replaced.
        console = ConsoleSpanExporter(out=sys.stdout, formatter=_json)
        provider.add_span_processor(SimpleSpanProcessor(console))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise ValueError(f"RUAM_TRACE_EXPORTER={exporter!r}: expected console, otlp or empty")
    return provider


def _json(span: ReadableSpan) -> str:
    """A span as the console exporter prints it, with bytes (FastStream records a message's
    key as they came) as text: the exporter's own JSON refuses bytes."""
    context = span.get_span_context()
    attributes = {
        k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        for k, v in (span.attributes or {}).items()
    }
    return (
        json.dumps(
            {
                "name": span.name,
                "context": {
                    "trace_id": f"0x{context.trace_id:032x}" if context else None,
                    "span_id": f"0x{context.span_id:016x}" if context else None,
                },
                "kind": str(span.kind),
                "parent_id": f"0x{span.parent.span_id:016x}" if span.parent else None,
                "start_time": span.start_time,
                "end_time": span.end_time,
                "status": span.status.status_code.name,
                "attributes": attributes,
                "resource": {"attributes": dict(span.resource.attributes)},
            },
            ensure_ascii=False,
            default=str,
        )
        + "\n"
    )


@contextmanager
def consuming(provider: TracerProvider | None, msg: StreamMessage[Any]) -> Iterator[None]:
    """A consumer span around the handling of one message, continuing the trace its headers
    carry. Not FastStream's telemetry middleware: that one ends its span when FastStream is
    done with the message, which here is before the handling starts (KeyedPipeline)."""
    if provider is None:
        yield
        return
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    record = msg.raw_message
    topic = str(getattr(record, "topic", "") or "")
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation": "process",
        "messaging.destination.name": topic,
        "messaging.kafka.destination.partition": int(getattr(record, "partition", -1)),
        "messaging.kafka.message.offset": int(getattr(record, "offset", -1)),
    }
    tracer = provider.get_tracer("ruam.kafka")
    with tracer.start_as_current_span(
        f"{topic} process", context=extract(dict(msg.headers)), kind=SpanKind.CONSUMER,
        attributes=attributes,
    ):  # fmt: skip
        yield


def current_traceparent() -> str | None:
    """The current span's W3C traceparent, or None outside a span (tracing off). The store
    keeps it with each event it saves, so that whoever publishes the event later (the
    caller's flush, or the relay's sweep after a failure or a restart) continues the trace
    of the request or message that decided it."""
    from opentelemetry import trace

    if not trace.get_current_span().get_span_context().is_valid:
        return None  # before the propagators are loaded: tracing off costs nothing more
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def producing(
    provider: TracerProvider | None, topic: str, count: int, parent: str | None = None
) -> Iterator[dict[str, str]]:
    """A producer span for the events published together, and the headers that carry it
    (W3C traceparent) to whoever consumes them. `parent` is the traceparent of the span
    that decided them, when that span is not the current one."""
    if provider is None:
        yield {}
        return
    from opentelemetry.propagate import extract, inject
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("ruam.kafka")
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation": "publish",
        "messaging.destination.name": topic,
        "messaging.batch.message_count": count,
    }
    origin = extract({"traceparent": parent}) if parent else None
    with tracer.start_as_current_span(
        f"{topic} publish", context=origin, kind=SpanKind.PRODUCER, attributes=attributes
    ):
        carrier: dict[str, str] = {}
        inject(carrier)
        yield carrier


def traced(app: ASGIApp, provider: TracerProvider | None, service: str) -> ASGIApp:
    """A server span per HTTP request, continuing the caller's trace (traceparent)."""
    if provider is None:
        return app
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer(f"ruam.{service}.http")

    async def with_span(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        name = f"{scope['method']} {scope['path']}"
        with tracer.start_as_current_span(name, context=extract(carrier), kind=SpanKind.SERVER):
            await app(scope, receive, send)

    return with_span
