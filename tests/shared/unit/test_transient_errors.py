"""Which errors are a fault of what we depend on (waited out, never dead-lettered) and
which are the message's own (dead-lettered at once), decided without a broker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    MessageSizeTooLargeError,
    NotEnoughReplicasError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)
from faststream._internal.context import ContextRepo
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from shared.errors import PERMANENT_ERRORS, ConcurrencyError, PermanentError
from shared.kafka import (
    DeadLetterPolicy,
    dead_letter_middleware,
    is_transient,
)
from tests.shared.unit.test_dead_letters import Broker, Message, Record


class Strict(BaseModel):
    n: int


def validation_error() -> ValidationError:
    try:
        Strict.model_validate({"n": "many"})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


def decode_error() -> json.JSONDecodeError:
    try:
        json.loads("{not json")
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("unreachable")


TRANSIENT: list[BaseException] = [
    ConnectionFailure("down"),
    AutoReconnect("failover"),
    NetworkTimeout("slow"),
    NotPrimaryError("stepped down"),
    ServerSelectionTimeoutError("no server"),
    ExecutionTimeout("maxTimeMS", 50),
    KafkaConnectionError(),
    KafkaTimeoutError(),  # not marked retriable by aiokafka, transient all the same
    RequestTimedOutError(),
    LeaderNotAvailableError(),
    NotEnoughReplicasError(),
    ConcurrencyError("lost the version race"),
    ConnectionError("refused"),
    TimeoutError(),
]
PERMANENT: list[BaseException] = [
    validation_error(),
    decode_error(),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    PermanentError("the domain refuses it"),
]
OTHER: list[BaseException] = [
    RuntimeError("a bug"),
    ValueError("x"),
    KeyError("x"),
    OperationFailure("refused by the server", 2),
    DuplicateKeyError("E11000", 11000),
    MessageSizeTooLargeError(),
    TopicAuthorizationFailedError(),
    KafkaError("not retriable"),
]


def name(exc: BaseException) -> str:
    return type(exc).__name__


@pytest.mark.parametrize("exc", TRANSIENT, ids=name)
def test_a_fault_of_a_dependency_is_transient_and_not_poison(exc: BaseException) -> None:
    assert is_transient(exc)
    assert not isinstance(exc, PERMANENT_ERRORS)


@pytest.mark.parametrize("exc", PERMANENT, ids=name)
def test_a_message_that_can_never_succeed_is_permanent(exc: BaseException) -> None:
    assert isinstance(exc, PERMANENT_ERRORS)
    assert not is_transient(exc)


@pytest.mark.parametrize("exc", OTHER, ids=name)
def test_any_other_error_is_neither(exc: BaseException) -> None:
    assert not is_transient(exc)
    assert not isinstance(exc, PERMANENT_ERRORS)


def test_a_retriable_kafka_error_of_a_new_kind_is_transient() -> None:
    class SomeFutureBrokerError(KafkaError):  # type: ignore[misc]
        retriable = True

    assert is_transient(SomeFutureBrokerError())


def policy(**overrides: Any) -> DeadLetterPolicy:
    values: dict[str, Any] = {
        "service": "routing",
        "dlq_topic": "routing.dlq",
        "max_attempts": 3,
        "backoff_seconds": 0.001,
        "registry": CollectorRegistry(),
        "transient_cap_seconds": 0.002,
    }
    return DeadLetterPolicy(**{**values, **overrides})


def test_the_wait_after_a_transient_fault_is_capped() -> None:
    p = policy(backoff_seconds=0.1, transient_cap_seconds=5.0)
    for outage in (1, 2, 10, 11, 1_000, 10**9):
        step = min(5.0, 0.1 * 2 ** min(outage, 10))
        for _ in range(50):
            assert step * 0.5 <= p.transient_delay(outage) <= step <= 5.0


def routed() -> Message:
    """A case.received message, as routing consumes it."""
    return Message(b"{}", Record("case.received", 0, 7, b"SPT-2569-000001"))


async def deliver(p: DeadLetterPolicy, errors: list[BaseException]) -> tuple[Any, Broker, int]:
    broker = Broker()
    p.broker = broker  # type: ignore[assignment]
    calls = 0

    async def handler(_msg: Any) -> str:
        nonlocal calls
        calls += 1
        if errors:
            raise errors.pop(0)
        return "handled"

    middleware = dead_letter_middleware(p)(routed(), context=ContextRepo())
    result = await asyncio.wait_for(middleware.consume_scope(handler, routed()), 5)  # type: ignore[arg-type]
    return result, broker, calls


async def test_every_kind_of_transient_fault_is_waited_out() -> None:
    p = policy()
    result, broker, calls = await deliver(p, list(TRANSIENT))
    assert (result, calls, broker.sent) == ("handled", len(TRANSIENT) + 1, [])


@pytest.mark.parametrize("exc", PERMANENT, ids=name)
async def test_a_permanent_error_is_dead_lettered_on_the_first_try(exc: BaseException) -> None:
    p = policy()
    result, broker, calls = await deliver(p, [exc])
    assert (result, calls) == (None, 1)
    (letter,) = broker.sent
    assert letter["topic"] == "routing.dlq" and letter["key"] == b"SPT-2569-000001"
    assert letter["headers"]["x-dlq-exception"] == type(exc).__name__
    assert p.dead_lettered.labels("routing", "case.received", "permanent")._value.get() == 1


async def test_a_transient_fault_between_failures_does_not_use_up_the_attempts() -> None:
    p = policy()
    errors: list[BaseException] = [RuntimeError("bug"), ConnectionFailure("down")] * 2
    result, broker, calls = await deliver(p, errors)
    assert (result, calls, broker.sent) == ("handled", 5, [])
    result, broker, _ = await deliver(p, [RuntimeError("bug")] * 3)
    assert result is None and broker.sent[0]["headers"]["x-dlq-attempts"] == "3"
    assert p.dead_lettered.labels("routing", "case.received", "exhausted")._value.get() == 1
