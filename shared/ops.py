"""What an operator asks of a service at 3 a.m., answered on /metrics.

Every gauge here that needs the broker or the database is computed by a runtime loop
every `every` seconds and only read by a scrape, so a scrape costs the same whatever is
stored and however often Prometheus comes. Label sets are fixed: services, our consumer
groups and topics, our collections.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import subprocess
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.metrics import MetricWrapperBase

from shared.topics import of_name

if TYPE_CHECKING:
    from shared.runtime import Runtime
    from shared.settings import ServiceSettings

log = logging.getLogger("ruam.ops")

M = TypeVar("M", bound=MetricWrapperBase)


class Labelled(Generic[M]):
    """A metric whose children are kept by their label values. prometheus_client's
    `labels()` checks and converts its arguments on every call, and the message path asks
    for the same few children for every message."""

    __slots__ = ("_children", "metric")

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self._children: dict[tuple[Any, ...], M] = {}

    def labels(self, *values: str, **named: str) -> M:
        # Positional values and (name, value) pairs cannot be mistaken for one another.
        key: tuple[Any, ...] = values or tuple(named.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.metric.labels(*values, **named)
        return child


def keep_faststream_children(middleware: object) -> int:
    """The same for the metrics FastStream's Prometheus middleware keeps: each of its
    metrics, in the container it names them in, asked through `Labelled` instead.
    Returns how many it found."""
    container = getattr(middleware, "_metrics_container", None)
    names = getattr(type(container), "__slots__", ())
    wrapped = 0
    for attribute in names:
        metric = getattr(container, attribute, None)
        if isinstance(metric, MetricWrapperBase):
            setattr(container, attribute, Labelled(metric))
            wrapped += 1
    if not wrapped:
        # A FastStream that keeps them elsewhere: its own labels() still count right.
        log.warning("FastStream's metrics not found; their children are not kept")
    return wrapped


def version() -> tuple[str, str]:
    """The package version, and the commit it was built from: RUAM_COMMIT (set by the
    image build), else the work tree's, else "unknown"."""
    try:
        pkg = importlib.metadata.version("ruam")
    except importlib.metadata.PackageNotFoundError:
        pkg = "unknown"
    commit = os.environ.get("RUAM_COMMIT", "")
    if not commit:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            commit = subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"],
                cwd=Path(__file__).resolve().parent,
                capture_output=True,
                text=True,
                timeout=2,
                check=True,
            ).stdout.strip()
    return pkg, commit or "unknown"


def consumer_lag(
    committed: Mapping[Any, int], ends: Mapping[Any, int], beginnings: Mapping[Any, int]
) -> dict[Any, int]:
    """Messages behind, per partition: a partition the group never committed is behind by
    all it still holds (the group starts from the earliest)."""
    lag = {}
    for tp, end in ends.items():
        start = committed.get(tp)
        if start is None or start < 0:
            start = beginnings.get(tp, 0)
        lag[tp] = max(0, end - start)
    return lag


@dataclass(frozen=True)
class Backlog:
    """Versions stored whose events are not yet out, and the age of the oldest."""

    count: int
    oldest_seconds: float


class OpsGauges:
    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.build_info = Gauge(
            "ruam_build_info",
            "Always 1: the version and commit this service runs",
            ["service", "version", "commit"],
            registry=registry,
        )
        self.lag = Gauge(
            "ruam_consumer_lag",
            "Messages not yet handled, per consumer group and partition (from the broker)",
            ["service", "group", "topic", "partition"],
            registry=registry,
        )
        self.backlog = Gauge(
            "ruam_outbox_backlog",
            "Stored versions whose events are not yet published, per collection",
            ["service", "collection"],
            registry=registry,
        )
        self.backlog_oldest = Gauge(
            "ruam_outbox_oldest_seconds",
            "Age of the oldest stored version whose events are not yet published",
            ["service", "collection"],
            registry=registry,
        )
        self.certificates = Gauge(
            "ruam_tls_certificate_expiry_seconds",
            "Seconds until a TLS certificate this service trusts or shows expires, by file",
            ["service", "name"],
            registry=registry,
        )
        self.letters = Gauge(
            "ruam_dead_letters_waiting",
            "Dead letters kept and never replayed, by the topic they came from",
            ["service", "topic"],
            registry=registry,
        )
        pkg, commit = version()
        self.build_info.labels(service, pkg, commit).set(1)

    def set_lag(self, group: str, lags: Mapping[Any, int]) -> None:
        for tp, behind in lags.items():
            topic = of_name(tp.topic)
            label = topic.value if topic is not None else "other"
            self.lag.labels(self.service, group, label, str(tp.partition)).set(behind)

    def set_backlog(self, collection: str, backlog: Backlog) -> None:
        self.backlog.labels(self.service, collection).set(backlog.count)
        self.backlog_oldest.labels(self.service, collection).set(backlog.oldest_seconds)

    def set_letters(self, waiting: Mapping[str, int], known: Iterable[str]) -> None:
        for topic in {*known, *waiting}:
            self.letters.labels(self.service, topic).set(waiting.get(topic, 0))


Check = Callable[[], Awaitable[None]]


def each(*checks: Check) -> Callable[[], Awaitable[int]]:
    """One round of `checks` for `shared.outbox.periodic`: one that fails is logged and
    tried again next round (its gauges keep their last values); the others still run."""

    async def round_() -> int:
        for check in checks:
            try:
                await check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("ops check %s failed: %s", getattr(check, "__name__", check), exc)
        return 0

    return round_


def watch(runtime: Runtime) -> OpsGauges:
    """The service's operational gauges, kept by a loop of its runtime."""
    from shared.dead_letters import MongoDeadLetters
    from shared.outbox import periodic
    from shared.store import AggregateStore

    gauges = OpsGauges(runtime.registry, runtime.settings.service_name)
    lag_reader = LagReader(runtime.settings, lambda: runtime.groups)

    async def lag() -> None:
        for group, lags in (await lag_reader.read()).items():
            gauges.set_lag(group, lags)

    async def outboxes() -> None:
        for store in AggregateStore.live():
            if store.collection.database.name == runtime.settings.mongodb_database:
                gauges.set_backlog(store.collection.name, await store.backlog())

    letter_store = MongoDeadLetters(runtime.db) if runtime.mongo is not None else None

    async def letters() -> None:
        assert letter_store is not None
        waiting = await letter_store.waiting(runtime.settings.service_name)
        known = {t.value for t in map(of_name, runtime.replayers) if t is not None}
        gauges.set_letters(waiting, known)

    files = {"kafka_ca": runtime.settings.kafka_ssl_cafile}

    async def certificates() -> None:
        for name, path in files.items():
            if path:
                pem = await asyncio.to_thread(Path(path).read_bytes)
                soonest = certificate_expiry(pem)
                if soonest:
                    gauges.certificates.labels(gauges.service, name).set(soonest[0])

    checks: list[Check] = [lag, certificates]
    if runtime.mongo is not None:
        checks += [outboxes, letters]
    runtime.loops.append(periodic(each(*checks), runtime.settings.ops_every_seconds, "ops"))
    runtime.shutdown.append(lag_reader.close)
    return gauges


class LagReader:
    """Committed offsets of consumer groups against their partitions' ends: `groups()`
    names each group's topic (a service's own groups, or those a tool watches)."""

    def __init__(self, settings: ServiceSettings, groups: Callable[[], Mapping[str, str]]) -> None:
        self._settings = settings
        self._groups = groups
        self._admin: Any = None
        self._consumer: Any = None
        self._partitions: dict[str, list[int]] = {}

    async def _open(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        from shared.kafka import client_options

        settings = self._settings
        options = client_options(settings)
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap_servers, **options
            )
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                enable_auto_commit=False,
                **options,
            )
            await consumer.start()
            self._consumer = consumer

    async def read(self) -> dict[str, dict[Any, int]]:
        from aiokafka import TopicPartition

        await self._open()
        groups = dict(self._groups())
        unknown = sorted(set(groups.values()) - set(self._partitions))
        if unknown:
            for described in await self._admin.describe_topics(unknown):
                parts = [p["partition"] for p in described.get("partitions", [])]
                if parts:
                    self._partitions[described["topic"]] = sorted(parts)
        out: dict[str, dict[Any, int]] = {}
        for group, topic in groups.items():
            tps = [TopicPartition(topic, p) for p in self._partitions.get(topic, [])]
            if not tps:
                continue
            offsets = await self._admin.list_consumer_group_offsets(group, partitions=tps)
            committed = {tp: meta.offset for tp, meta in offsets.items()}
            ends = await self._consumer.end_offsets(tps)
            beginnings = await self._consumer.beginning_offsets(tps)
            out[group] = consumer_lag(committed, ends, beginnings)
        return out

    async def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):
                    await (client.stop() if hasattr(client, "stop") else client.close())
        self._admin = self._consumer = None


def certificate_expiry(pem: bytes, now: datetime | None = None) -> list[float]:
    """Seconds until each certificate in a PEM bundle expires, soonest first."""
    from cryptography import x509

    moment = now or datetime.now(UTC)
    certs = x509.load_pem_x509_certificates(pem)
    return sorted((c.not_valid_after_utc - moment).total_seconds() for c in certs)


def age_seconds(oldest: datetime | None, now: datetime | None = None) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - oldest).total_seconds())
