"""The dead-letter middleware: transient faults wait, poison goes to the DLQ at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from faststream._internal.context import ContextRepo
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from pymongo.errors import ServerSelectionTimeoutError

from shared.errors import ConcurrencyError, WriteUncertain
from shared.kafka import DeadLetterPolicy, dead_letter_middleware, is_transient


@dataclass
class Record:
    topic: str = "intake.raw"
    partition: int = 2
    offset: int = 41
    key: bytes | None = b"k"


@dataclass
class Message:
    body: bytes = b'{"not": "valid"}'
    raw_message: Record = field(default_factory=Record)


@dataclass
class Broker:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, body: bytes, **kwargs: Any) -> None:
        self.sent.append({"body": body, **kwargs})


def policy(concurrency: int = 1) -> tuple[DeadLetterPolicy, Broker]:
    broker = Broker()
    p = DeadLetterPolicy(
        service="intake",
        dlq_topic="intake.dlq",
        max_attempts=3,
        backoff_seconds=0.001,
        registry=CollectorRegistry(),
        transient_cap_seconds=0.01,
        concurrency=concurrency,
    )
    p.broker = broker  # type: ignore[assignment]
    return p, broker


async def consume(p: DeadLetterPolicy, msg: Message, handler: Any) -> Any:
    middleware = dead_letter_middleware(p)(msg, context=ContextRepo())
    return await middleware.consume_scope(handler, msg)  # type: ignore[arg-type]


def failing(errors: list[BaseException], result: str = "done") -> Any:
    calls = {"n": 0}

    async def handler(_msg: Any) -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


async def test_a_database_outage_is_waited_out_and_never_dead_lettered() -> None:
    p, broker = policy()
    outage = [ServerSelectionTimeoutError("no server")] * 12 + [ConcurrencyError("race")] * 3
    handler = failing(list(outage))
    assert await consume(p, Message(), handler) == "done"
    assert handler.calls["n"] == 16  # well past max_attempts, and still not given up
    assert broker.sent == []
    retried = p.transient_retries.labels
    assert retried("intake", "ServerSelectionTimeoutError")._value.get() == 12
    assert retried("intake", "ConcurrencyError")._value.get() == 3


async def test_poison_is_dead_lettered_at_once_with_reason_and_original_bytes() -> None:
    class Body(BaseModel):
        text: str

    p, broker = policy()
    try:
        Body.model_validate({})
    except Exception as exc:  # a real pydantic ValidationError
        invalid = exc
    handler = failing([invalid])
    assert await consume(p, Message(), handler) is None
    assert handler.calls["n"] == 1
    (letter,) = broker.sent
    assert letter["body"] == b'{"not": "valid"}' and letter["topic"] == "intake.dlq"
    headers = letter["headers"]
    assert headers["x-dlq-reason"].startswith("invalid event: text: Field required")
    assert (headers["x-dlq-source-topic"], headers["x-dlq-offset"]) == ("intake.raw", "41")


async def test_an_unknown_error_is_dead_lettered_after_bounded_attempts() -> None:
    p, broker = policy()
    handler = failing([RuntimeError("handler bug")] * 10)
    assert await consume(p, Message(), handler) is None
    assert handler.calls["n"] == 3
    assert broker.sent[0]["headers"]["x-dlq-attempts"] == "3"


async def test_a_dead_letter_is_never_dead_lettered_again() -> None:
    p, broker = policy()
    handler = failing([RuntimeError("still broken")])
    with pytest.raises(RuntimeError):
        await consume(p, Message(raw_message=Record(topic="routing.dlq")), handler)
    assert broker.sent == []


def test_what_counts_as_transient() -> None:
    from aiokafka.errors import KafkaConnectionError, NotLeaderForPartitionError

    assert is_transient(ServerSelectionTimeoutError("x"))
    assert is_transient(KafkaConnectionError())
    assert is_transient(NotLeaderForPartitionError())
    assert is_transient(ConcurrencyError("x"))
    assert is_transient(WriteUncertain("x"))  # the message comes again, never dead-lettered
    assert not is_transient(ValueError("x"))
    assert not is_transient(RuntimeError("x"))
