"""Kafka wiring shared by all services: broker factory, subscribing, dead-lettering, publishing.

Delivery contract (at least once, effects idempotent):
- producers are idempotent with acks=all, so a retried send is not written twice;
- subscribers commit only after the handler returned, i.e. after its effect is
  stored (AckPolicy.NACK_ON_ERROR: an exception rewinds to the message instead);
- a fault of what we depend on (the database or the broker down, timing out or failing
  over; a version race) is transient: the message is retried with capped, jittered
  backoff for as long as it takes, holding its partition, and never dead-lettered;
- input that can never succeed (undecodable, invalid, refused by the domain) goes to
  the service's dead-letter topic at once, with the reason and the original bytes;
- any other error is retried a bounded number of times, then dead-lettered the same
  way, so one message that breaks a handler never blocks its partition for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import random
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, get_args, get_origin

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
)
from aiokafka.structs import OffsetAndMetadata
from faststream import AckPolicy
from faststream._internal.middlewares import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import AckStatus, StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, TypeAdapter, ValidationError
from pymongo.errors import ConnectionFailure as PyMongoConnectionFailure
from pymongo.errors import ExecutionTimeout as PyMongoExecutionTimeout

from shared.bus import ADMIN, DEV_PASSWORDS, reads, writes
from shared.errors import PERMANENT_ERRORS, ConcurrencyError
from shared.logs import handling
from shared.ops import Labelled, keep_faststream_children
from shared.outbox import RawMessage
from shared.settings import ServiceSettings
from shared.store import recovered_by_redelivery
from shared.topics import SPECS, Topic, name, of_name
from shared.tracing import consuming, producing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from typing_extensions import TypeForm

    from shared.runtime import Runtime

log = logging.getLogger("ruam.kafka")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    PyMongoConnectionFailure,  # server selection, network timeouts, failover
    PyMongoExecutionTimeout,
    KafkaConnectionError,
    KafkaTimeoutError,
    ConcurrencyError,
    ConnectionError,
    TimeoutError,
)
TRANSIENT_BACKOFF_CAP_SECONDS = 5.0
IDLE_ASK_FLOOR_MS = 100  # take_all_fetched


def is_transient(exc: BaseException) -> bool:
    """A fault of what we depend on, not of the message: it will pass."""
    return isinstance(exc, TRANSIENT_ERRORS) or (
        isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        ]
        return "invalid event: " + "; ".join(parts)[:900]
    return f"{type(exc).__name__}: {exc}"[:1000]


class OffsetBook:
    """Offsets of messages whose effects are done, committed together every `every` seconds
    instead of one commit request per message.

    A message is noted when it is taken (`started`) and when it is handled or dead-lettered
    (`done`); a partition is committed up to its oldest message still under way, never past
    it, so a crash redelivers only what was unfinished or handled since the last round,
    which the handlers absorb by idempotency. FastStream's own commit (of everything
    fetched) is skipped by marking each message acknowledged; a failure still rewinds.
    """

    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self._done: dict[Any, dict[Any, int]] = {}  # the offset after the last handled
        self._open: dict[Any, dict[Any, set[int]]] = {}  # taken, not yet handled
        self._committed: dict[Any, dict[Any, int]] = {}

    @staticmethod
    def locate(msg: StreamMessage[Any]) -> tuple[AIOKafkaConsumer, TopicPartition, int] | None:
        consumer = getattr(msg, "consumer", None)
        record = msg.raw_message
        if not isinstance(consumer, AIOKafkaConsumer) or not hasattr(record, "offset"):
            return None  # an in-memory test broker: its own ack is a no-op anyway
        return consumer, TopicPartition(record.topic, record.partition), record.offset

    def started(self, msg: StreamMessage[Any]) -> None:
        where = self.locate(msg)
        if where is not None:
            consumer, tp, offset = where
            self._open.setdefault(consumer, {}).setdefault(tp, set()).add(offset)
            msg.committed = AckStatus.ACKED

    def done(self, msg: StreamMessage[Any]) -> None:
        where = self.locate(msg)
        if where is None:
            return
        consumer, tp, offset = where
        self._open.get(consumer, {}).get(tp, set()).discard(offset)
        offsets = self._done.setdefault(consumer, {})
        offsets[tp] = max(offsets.get(tp, 0), offset + 1)
        msg.committed = AckStatus.ACKED

    def _ready(self, consumer: AIOKafkaConsumer) -> dict[Any, int]:
        """Per partition still ours: up to where everything taken is handled, if further
        than the last commit."""
        opened = self._open.get(consumer, {})
        last = self._committed.setdefault(consumer, {})
        assigned = consumer.assignment()
        ready = {}
        for tp, done_to in self._done.get(consumer, {}).items():
            waiting = opened.get(tp)
            point = min(min(waiting), done_to) if waiting else done_to
            if tp in assigned and point > last.get(tp, -1):
                ready[tp] = point
        return ready

    async def commit(self) -> int:
        committed = 0
        for consumer in list(self._done):
            ready = self._ready(consumer)
            if not ready:
                continue
            try:
                await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in ready.items()})
            except (CommitFailedError, IllegalStateError):
                # Rebalanced away meanwhile: the partition's new owner redelivers from the
                # last commit, and idempotent handlers absorb the repeats.
                log.info("offsets of a rebalanced consumer not committed: %s", ready)
                continue
            except KafkaError:
                continue  # the broker is away: next round, newest wins
            self._committed[consumer].update(ready)
            committed += len(ready)
        return committed

    async def run(self, stop: asyncio.Event) -> None:
        """The background loop (a runtime loop): commit until stopped, then once more."""
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
            try:
                await self.commit()
            except Exception:
                log.exception("committing offsets failed; retried next round")


class KeyedPipeline:
    """Handles a consumer's messages concurrently, those of one key (or, unkeyed, of one
    partition) strictly one after the other.

    FastStream hands a consumer's messages over one at a time; waiting for each effect
    (several database round trips, the broker's acknowledgement) before taking the next
    made a service's throughput its latency's inverse. Here a message is started and the
    next one taken at once, up to `limit` under way; per-key order is what the handlers rely
    on (one case's events in order), and the offset book commits a partition only up to its
    oldest message still under way. The limit is per topic: messages of one topic waiting
    for another's (a follow-up retried until its case is routed) must never take every
    slot and so stop the very message they wait for.
    """

    def __init__(self, offsets: OffsetBook, limit: int, backoff_cap: float) -> None:
        self._offsets = offsets
        self._limit = limit
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._backoff_cap = backoff_cap
        self._tails: dict[Any, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def submit(self, msg: StreamMessage[Any], work: Callable[[], Awaitable[object]]) -> None:
        if self._closing:
            # Shutting down: take nothing more; the consumer is stopped (and this
            # cancelled) next, and the message is redelivered to whoever comes after.
            await asyncio.Event().wait()
        record = msg.raw_message
        slots = self._slots.get(record.topic)
        if slots is None:
            slots = self._slots[record.topic] = asyncio.Semaphore(self._limit)
        await slots.acquire()
        key = (record.topic, record.partition, record.key)
        before = self._tails.get(key)
        self._offsets.started(msg)
        task = asyncio.create_task(self._run(key, before, msg, work, slots))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        key: Any,
        before: asyncio.Task[None] | None,
        msg: StreamMessage[Any],
        work: Callable[[], Awaitable[object]],
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])
            failures = 0
            while True:
                try:
                    await work()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # What reaches here is not the message's fault (that is dead-lettered
                    # inside `work`): the dead-letter topic itself is away, say. The message
                    # holds its key and its partition's commits until it goes through.
                    failures += 1
                    log.exception("handling a message failed outside its handler; retrying")
                    await asyncio.sleep(min(self._backoff_cap, 0.2 * 2 ** min(failures, 10)))
            self._offsets.done(msg)
        finally:
            slots.release()
            if self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> None:
        """At shutdown: take nothing more, let what is under way finish for up to `timeout`
        seconds, then cancel the rest (uncommitted, so redelivered)."""
        self._closing = True
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


@dataclass
class DeadLetterPolicy:
    service: str
    dlq_topic: str
    max_attempts: int
    backoff_seconds: float
    registry: CollectorRegistry
    broker: KafkaBroker | None = None
    offsets: OffsetBook = field(default_factory=OffsetBook)
    concurrency: int = 1
    tracer: TracerProvider | None = None
    pipeline: KeyedPipeline = field(init=False)
    # Full topic name -> its subscription's handling of one record (`subscribe`).
    handlers: dict[str, Callable[[StreamMessage[Any]], Awaitable[object]]] = field(
        default_factory=dict
    )
    dead_lettered: Labelled[Counter] = field(init=False)
    finished: Labelled[Counter] = field(init=False)
    handling: Labelled[Histogram] = field(init=False)

    transient_cap_seconds: float = TRANSIENT_BACKOFF_CAP_SECONDS
    transient_retries: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.pipeline = KeyedPipeline(
            self.offsets, max(1, self.concurrency), self.transient_cap_seconds
        )
        self.dead_lettered = Labelled(
            Counter(
                "ruam_dead_lettered_total",
                "Messages sent to the dead-letter topic, by source topic and reason class",
                ["service", "topic", "reason"],
                registry=self.registry,
            )
        )
        self.finished = Labelled(
            Counter(
                "ruam_messages_finished_total",
                "Messages whose handling finished, by topic and outcome (handled, dead_lettered):"
                " FastStream's own counters see a message when it is taken, not when it is done",
                ["service", "topic", "outcome"],
                registry=self.registry,
            )
        )
        in_flight = Gauge(
            "ruam_messages_in_flight",
            "Messages taken by a consumer and not yet handled (the keyed pipeline's)",
            ["service"],
            registry=self.registry,
        )
        in_flight.labels(self.service).set_function(lambda: self.pipeline.in_flight)
        self.handling = Labelled(
            Histogram(
                "ruam_message_handling_seconds",
                "Time from a message's handling starting to its end (retries included), by topic",
                ["service", "topic"],
                registry=self.registry,
            )
        )
        self.transient_retries = Counter(
            "ruam_transient_retries_total",
            "Messages retried after a transient fault (database or broker away, a race, LINE"
            " away or refusing the channel's token), by the fault's class",
            ["service", "fault"],
            registry=self.registry,
        )

    def transient_delay(self, attempt: int) -> float:
        step = min(self.transient_cap_seconds, self.backoff_seconds * 2 ** min(attempt, 10))
        return float(step * random.uniform(0.5, 1.0))

    async def dead_letter(self, msg: StreamMessage[Any], exc: BaseException, attempts: int) -> None:
        if self.broker is None:  # pragma: no cover - wiring error
            raise RuntimeError("dead-letter policy has no broker")
        record = msg.raw_message
        source_topic = getattr(record, "topic", "") or ""
        headers = {
            "x-dlq-reason": _reason(exc),
            "x-dlq-exception": type(exc).__name__,
            "x-dlq-service": self.service,
            "x-dlq-source-topic": source_topic,
            "x-dlq-partition": str(getattr(record, "partition", "")),
            "x-dlq-offset": str(getattr(record, "offset", "")),
            "x-dlq-attempts": str(attempts),
            "x-dlq-failed-at": datetime.now(UTC).isoformat(),
        }
        key = getattr(record, "key", None)
        await self.broker.publish(msg.body, topic=self.dlq_topic, key=key, headers=headers)
        kind = "permanent" if isinstance(exc, PERMANENT_ERRORS) else "exhausted"
        self.dead_lettered.labels(self.service, source_topic, kind).inc()
        log.warning(
            "dead-lettered %s[%s]@%s after %d attempt(s): %s",
            source_topic,
            headers["x-dlq-partition"],
            headers["x-dlq-offset"],
            attempts,
            headers["x-dlq-reason"],
        )


def _record_message(fetch: KafkaMessage, record: Any) -> KafkaMessage:
    """One record of a fetch as the message FastStream would have made of it alone."""
    headers = {k: v.decode() for k, v in record.headers}
    return KafkaMessage(
        body=record.value or b"",
        headers=headers,
        content_type=headers.get("content-type"),
        message_id=f"{record.offset}-{record.timestamp}",
        raw_message=record,
        consumer=fetch.consumer,
    )


def dead_letter_middleware(policy: DeadLetterPolicy) -> Callable[..., BaseMiddleware[Any, Any]]:
    """A FastStream middleware factory bound to one service's dead-letter policy."""

    class DeadLetterMiddleware(BaseMiddleware[Any, Any]):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            if isinstance(msg, KafkaMessage) and isinstance(msg.raw_message, tuple | list):
                # A fetch (a list: the test broker's): each record on its own, as if it came
                # alone, but FastStream's context, middlewares and dependency injection ran
                # once for all (docs/storage.md, "Whole fetches"). The offset book commits.
                msg.committed = AckStatus.ACKED
                for record in msg.raw_message:
                    await self._take(policy.handlers[record.topic], _record_message(msg, record))
                return None
            return await self._take(call_next, msg)

        async def _take(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            dead_letter = getattr(msg.raw_message, "topic", "").endswith(".dlq")
            if policy.concurrency > 1 and not dead_letter and OffsetBook.locate(msg):
                # Handled in the background; nothing is ever replied to a message.
                await policy.pipeline.submit(msg, functools.partial(self._traced, call_next, msg))
                return None
            result = await self._traced(call_next, msg)
            policy.offsets.done(msg)  # reached only when handled or dead-lettered
            return result

        async def _traced(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            with consuming(policy.tracer, msg):
                return await self._handle(call_next, msg)

        async def _handle(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            outcome: list[str] = []
            started = time.perf_counter()
            result = await self._attempts(call_next, msg, outcome)
            topic = of_name(getattr(msg.raw_message, "topic", "") or "")
            label = topic.value if topic is not None else "other"
            ended = outcome[0] if outcome else "handled"
            policy.finished.labels(policy.service, label, ended).inc()
            policy.handling.labels(policy.service, label).observe(time.perf_counter() - started)
            return result

        async def _attempts(
            self,
            call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
            msg: StreamMessage[Any],
            outcome: list[str],
        ) -> Any:
            if getattr(msg.raw_message, "topic", "").endswith(".dlq"):
                # Never dead-letter a dead letter: that would loop. Failures here
                # rewind (nack) and retry, which an operator sees in the logs.
                return await call_next(msg)
            attempt = 0  # failures of the message itself
            outage = 0  # transient faults in a row
            while True:
                try:
                    return await call_next(msg)
                except PERMANENT_ERRORS as exc:
                    await policy.dead_letter(msg, exc, attempt + 1)
                    outcome.append("dead_lettered")
                    return None
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if is_transient(exc):
                        outage += 1
                        fault = type(exc).__name__
                        policy.transient_retries.labels(policy.service, fault).inc()
                        if outage == 1 or outage % 20 == 0:
                            log.warning(
                                "transient %s (%s), retrying (try %d)",
                                type(exc).__name__,
                                str(exc)[:200],
                                outage,
                            )
                        await asyncio.sleep(policy.transient_delay(outage))
                        continue
                    attempt += 1
                    if attempt >= policy.max_attempts:
                        await policy.dead_letter(msg, exc, attempt)
                        outcome.append("dead_lettered")
                        return None
                    log.info("retrying after %s (attempt %d)", type(exc).__name__, attempt)
                    await asyncio.sleep(policy.backoff_seconds * 2 ** (attempt - 1))

    return DeadLetterMiddleware


def client_options(settings: ServiceSettings | None = None) -> dict[str, Any]:
    """Who we are on the bus, as aiokafka's keywords: every producer, consumer and admin
    client of ours passes these beside its bootstrap servers.

    `settings` are a service's: its own principal, or none (PLAINTEXT). Without them (a tool,
    a test's own reader or writer) the environment's KAFKA_SASL_* are used, and where it
    names no user at all, the dev stack's admin (deploy/local/stack.py): a tool needs to
    read and write every topic, and on a dev stack that is the admin's to do.
    """
    if settings is None:
        settings = tool_settings()
    protocol = settings.kafka_security_protocol.upper() or (
        "SASL_PLAINTEXT" if settings.kafka_sasl_username else "PLAINTEXT"
    )
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism.upper(),
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    if protocol.endswith("SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile or None)
    return options


def tool_settings() -> ServiceSettings:
    """The environment's connection settings, as a tool connects: the dev admin unless
    KAFKA_SASL_USERNAME is set (to empty, for no SASL at all)."""
    settings = ServiceSettings()
    if "KAFKA_SASL_USERNAME" not in os.environ:
        settings = settings.model_copy(
            update={"kafka_sasl_username": ADMIN, "kafka_sasl_password": DEV_PASSWORDS[ADMIN]}
        )
    return settings


_SASL = {"SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512, "PLAIN": SASLPlaintext}


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """`client_options` in FastStream's terms."""
    options = client_options(settings)
    ssl_context = options.get("ssl_context")
    mechanism = options.get("sasl_mechanism")
    if mechanism is None:
        return BaseSecurity(ssl_context=ssl_context) if ssl_context is not None else None
    security: BaseSecurity = _SASL[mechanism](
        options["sasl_plain_username"], options["sasl_plain_password"], ssl_context=ssl_context
    )
    return security


def create_broker(
    settings: ServiceSettings,
    *,
    registry: CollectorRegistry,
    dlq: Topic,
    tracer: TracerProvider | None = None,
) -> tuple[KafkaBroker, DeadLetterPolicy]:
    policy = DeadLetterPolicy(
        tracer=tracer,
        service=settings.service_name,
        dlq_topic=name(dlq, settings.topic_prefix),
        max_attempts=settings.max_delivery_attempts,
        backoff_seconds=settings.retry_backoff_seconds,
        registry=registry,
        concurrency=settings.consumer_concurrency,
    )
    prometheus = KafkaPrometheusMiddleware(registry=registry, app_name=settings.service_name)
    keep_faststream_children(prometheus)
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"ruam-{settings.service_name}",
        security=broker_security(settings),
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        # "Received"/"Processed" for every message is noise at INFO and costs CPU on the
        # hot path; failures are still logged at WARNING and counted in /metrics.
        log_level=logging.DEBUG,
        # Ours, not FastStream's own coloured text handler: its lines go out as every other
        # line does (shared.logs, JSON).
        logger=logging.getLogger("ruam.faststream"),
        middlewares=[prometheus, dead_letter_middleware(policy)],
    )
    policy.broker = broker
    return broker, policy


def subscriber_options(
    settings: ServiceSettings, purpose: str, *, gather: bool = False
) -> dict[str, Any]:
    """What every subscriber of ours passes: explicit group, manual commit after effect;
    with `gather`, a fetch the broker holds until a convoy has gathered (`subscribe`)."""
    options: dict[str, Any] = {
        "group_id": settings.group_id(purpose),
        "auto_offset_reset": settings.auto_offset_reset,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
    }
    if gather and settings.kafka_gather_ms > 0:
        options["fetch_max_wait_ms"] = settings.kafka_gather_ms
        options["fetch_min_bytes"] = settings.kafka_gather_bytes
    return options


def take_all_fetched(subscriber: Any, wait_ms: int) -> None:
    """A batch subscriber that asks its consumer for all it has fetched, waiting up to
    `wait_ms` for something when it has nothing, and asks again at once. FastStream's own
    sleeps another `batch_timeout_ms` after an empty wait: a record arriving meanwhile
    waited for that sleep to end, at every stage of the pipeline. The wait only ends early
    when nothing comes, so a floor costs no latency: a fetch wait set to 0 must not make the
    consumer ask in a busy loop."""
    wait_ms = max(wait_ms, IDLE_ASK_FLOOR_MS)

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        fetched = await consumer.getmany(timeout_ms=wait_ms)
        return tuple(itertools.chain.from_iterable(fetched.values()))

    subscriber.get_msg = get_msg


def topic_name(settings: ServiceSettings, topic: Topic) -> str:
    return name(topic, settings.topic_prefix)


E = TypeVar("E")


def subscribe(
    runtime: Runtime,
    event: TypeForm[E],
    purpose: str,
    handler: Callable[[E], Awaitable[object]],
    *,
    redelivery_recovers: bool = False,
    gather: bool = False,
) -> None:
    """Hand every `event` on its class's topic to `handler`, in the consumer group of `purpose`.

    `event` is an envelope class, or a union of envelope classes sharing one topic (decoded by
    their discriminator). `purpose` names the group: it is where the group's committed offsets
    live, so it never changes with a rename. What the handler returns is dropped (no reply).

    `redelivery_recovers`: the handler, given a message again, flushes every aggregate its
    first handling saved (its "already done" paths call the store's flush). Its saves then
    write no outbox marker (shared.store.recovered_by_redelivery): if this process dies
    before the handler returns, the message is handled again, and that is the recovery.

    `gather`: this subscription is where work enters the pipeline. The broker answers its
    fetch when KAFKA_GATHER_BYTES wait or KAFKA_GATHER_MS passed, not at the first record,
    so what arrives within that time is handled, written and published together, and every
    later stage receives it together too (docs/storage.md, "Convoys"): fewer wake-ups per
    case, for up to KAFKA_GATHER_MS more latency and one idle fetch per that time."""
    settings = runtime.settings
    full = topic_name(settings, topic_of(event))
    if full in runtime.dead_letters.handlers:
        # A record's handler, its dead letters' replay and its order are found by its topic.
        raise ValueError(
            f"{settings.service_name} already subscribes to {full}: one subscription per topic "
            "in a service (handle every use of its events in that one)"
        )

    async def consume(event: Any) -> None:
        recovers = recovered_by_redelivery() if redelivery_recovers else contextlib.nullcontext()
        with handling(event), recovers:
            await handler(event)

    # The AsyncAPI document describes a subscription's messages by this annotation. Records
    # are decoded below, one by one, as the dead-letter middleware hands them over: the
    # subscription takes whole fetches, and FastStream's decoding of one (as a list) is
    # never used (docs/storage.md, "Whole fetches").
    consume.__annotations__ = {"event": event, "return": None}
    # The AsyncAPI document and FastStream's logs name a subscriber after its function.
    consume.__name__ = consume.__qualname__ = purpose.replace("-", "_")
    # With an options dict FastStream's overloads resolve to Any: applied by a call, not as a
    # decorator, so no untyped decorator hides `consume`'s type.
    options = subscriber_options(settings, purpose, gather=gather)
    subscriber = runtime.router.subscriber(full, batch=True, **options)
    subscriber(consume)
    take_all_fetched(subscriber, options["fetch_max_wait_ms"])
    runtime.groups[options["group_id"]] = full
    decoder: TypeAdapter[Any] = TypeAdapter(event)

    async def take(msg: StreamMessage[Any]) -> None:
        await consume(decoder.validate_json(msg.body))

    runtime.dead_letters.handlers[full] = take

    async def replay(body: bytes) -> object:
        return await handler(decoder.validate_json(body))

    runtime.replayers[full] = replay


def topic_of(event: object) -> Topic:
    """The topic of an envelope class, or the one topic every class of a union shares."""
    if get_origin(event) is Annotated:
        event = get_args(event)[0]
    union = get_origin(event) in (Union, types.UnionType)
    topics = {getattr(kind, "topic", None) for kind in (get_args(event) if union else (event,))}
    topic = topics.pop() if len(topics) == 1 else None
    if not isinstance(topic, Topic):
        raise TypeError(f"{event!r} is not on one topic: no envelope class, or a mixed union")
    return topic


class KafkaEventPublisher:
    """The EventPublisher port on a real (or TestKafkaBroker-patched) broker."""

    def __init__(
        self, broker: KafkaBroker, settings: ServiceSettings, tracer: TracerProvider | None = None
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._tracer = tracer

    async def publish(self, topic: Topic, key: str | None, event: BaseModel) -> None:
        await self.publish_raw(topic, key, event.model_dump_json().encode("utf-8"))

    async def publish_raw(self, topic: Topic | str, key: str | None, value: bytes) -> None:
        await self.publish_all([(topic, key, value)])

    async def publish_all(
        self, messages: Sequence[RawMessage], *, parent: str | None = None
    ) -> None:
        # All are handed to the producer before any acknowledgement is awaited, so an
        # aggregate's events travel in one produce request instead of one round trip each;
        # the producer keeps their order within a partition, hence within a key.
        if not messages:
            return
        acks = []
        first = messages[0][0]
        with producing(self._tracer, str(first), len(messages), parent) as trace_headers:
            for topic, key, value in messages:
                target = topic_name(self._settings, topic) if isinstance(topic, Topic) else topic
                sent = await self._broker.publish(
                    value,
                    topic=target,
                    key=key.encode("utf-8") if key is not None else None,
                    headers={"content-type": "application/json", **trace_headers},
                    no_confirm=True,
                )
                if isinstance(sent, asyncio.Future):
                    acks.append(sent)
            await asyncio.gather(*acks)


def own_topics(settings: ServiceSettings) -> tuple[Topic, ...]:
    """The topics this connection may create: all for the admin or a broker without ACLs,
    those it writes or reads for a service's own principal (shared/bus.py)."""
    user = settings.kafka_sasl_username
    if not user or user == ADMIN:
        return tuple(Topic)
    mine = writes(user) | reads(user)
    return tuple(t for t in Topic if t in mine)


async def ensure_topics(settings: ServiceSettings, topics: Iterable[Topic] | None = None) -> None:
    """Create our topics if missing (idempotent); by default those `own_topics` names, so
    that between them the services create every topic. Production may pre-create them."""
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError, for_code

    if topics is None:
        topics = own_topics(settings)
    async with _admin(settings) as admin:
        existing = set(await admin.list_topics())
        wanted = []
        for topic in topics:
            topic_full = name(topic, settings.topic_prefix)
            if topic_full in existing:
                continue
            spec = SPECS[topic]
            configs = {"cleanup.policy": "compact"} if spec.compacted else {}
            wanted.append(
                NewTopic(
                    topic_full,
                    spec.partitions,
                    settings.topic_replication_factor,
                    topic_configs=configs,
                )
            )
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
                response = await admin.create_topics(wanted)
                for topic_full, code, *_ in response.topic_errors:
                    # A refusal (no CREATE for the principal, say) would otherwise surface
                    # only as a consumer that never gets a partition.
                    if code and code != TopicAlreadyExistsError.errno:
                        raise for_code(code)(f"creating {topic_full}")


async def delete_topics(prefix: str, settings: ServiceSettings | None = None) -> int:
    """Delete every topic whose name starts with `prefix` (a bench run's own namespace):
    left behind, each run's topics stay on the broker, with their files, for good.
    Returns how many were asked to go."""
    if not prefix:
        raise ValueError("no prefix: that would be every topic")
    async with _admin(settings or tool_settings()) as admin:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        return len(doomed)


@contextlib.asynccontextmanager
async def _admin(settings: ServiceSettings) -> AsyncIterator[Any]:
    """An admin client for one piece of work, closed after it."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **client_options(settings)
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()
