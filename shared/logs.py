"""Logs as one JSON object a line, each carrying what it is about: the event being handled
(its id, type and case or project) and the trace, so an operator can follow one submission
through the services with a text search.

Log lines never carry personal data: messages name ids, never a citizen's words or contact
(tests/shared/unit/test_logs.py runs a submission full of them through intake and routing
and reads every line).
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

# What the current task is handling; set around each message a consumer handles.
ABOUT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "ruam_log_about", default=None
)


def about_event(event: object) -> dict[str, str]:
    """The ids a log line names for an event: its own, its type, its case or project."""
    out: dict[str, str] = {}
    for field in ("event_id", "type", "correlation_id"):
        value = getattr(event, field, None)
        if value is not None:
            out[field] = str(value)
    payload = getattr(event, "payload", None)
    for field in ("case_id", "project_id", "survey_id"):
        value = getattr(payload, field, None)
        if value is not None:
            out[field] = str(value)
    return out


@contextmanager
def handling(event: object) -> Iterator[None]:
    token = ABOUT.set(about_event(event))
    try:
        yield
    finally:
        ABOUT.reset(token)


def _trace() -> dict[str, str]:
    try:
        from opentelemetry.trace import get_current_span
    except ImportError:  # tracing not installed: no ids to give
        return {}
    context = get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **(ABOUT.get() or {}),
            **_trace(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(service: str, fmt: str = "json", level: int = logging.INFO) -> None:
    """The root logger's one handler, in JSON (or text for a person at a terminal);
    uvicorn's and FastStream's loggers propagate to it."""
    handler = logging.StreamHandler()
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "faststream", "aiokafka"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
