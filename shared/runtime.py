"""The runtime every service is assembled on: broker, registry, MongoDB, ASGI app.

Each service's bootstrap calls `build_runtime`, builds its adapters and handlers on it,
registers their start-up work and background loops (`startup`, `loops`, `relay`), then hands
them to `shared.service.assemble`, which registers the subscribers on `runtime.router` and
builds the app with `asgi_app`. Nothing here is created at import time, so tests build as
many isolated runtimes as they like (fakes for storage, TestKafkaBroker for Kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp
from faststream.kafka import KafkaBroker, KafkaRouter
from prometheus_client import CollectorRegistry, make_asgi_app
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from shared.http import (
    ErrorTable,
    OnRefusal,
    RefusalPage,
    compose,
    exception_handlers,
    health_handler,
)
from shared.kafka import DeadLetterPolicy, KafkaEventPublisher, create_broker, ensure_topics
from shared.limits import rate_limited
from shared.mongo import Document, create_client, ping
from shared.outbox import relay_loop
from shared.settings import ServiceSettings
from shared.topics import Topic
from shared.tracing import provider_for, traced

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("ruam.runtime")

Loop = Callable[[asyncio.Event], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]


@dataclass
class Runtime:
    settings: ServiceSettings
    registry: CollectorRegistry
    broker: KafkaBroker
    dead_letters: DeadLetterPolicy
    router: KafkaRouter
    publisher: KafkaEventPublisher
    mongo: AsyncMongoClient[Document] | None
    startup: list[Hook] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    shutdown: list[Hook] = field(default_factory=list)
    # Full topic name -> what its subscription does with a message's bytes: how the
    # dead-letter office replays a letter through the consumer that refused it.
    replayers: dict[str, Callable[[bytes], Awaitable[object]]] = field(default_factory=dict)
    tracer: TracerProvider | None = None  # shared.tracing: None when traces go nowhere
    # Consumer group -> the full name of the topic it reads: whose lag ops reports.
    groups: dict[str, str] = field(default_factory=dict)
    _stop: asyncio.Event | None = None
    _tasks: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def db(self) -> AsyncDatabase[Document]:
        if self.mongo is None:
            raise RuntimeError("this runtime was built without MongoDB (fakes in use)")
        return self.mongo[self.settings.mongodb_database]

    def relay(self, *sweeps: Callable[[], Awaitable[int]]) -> None:
        """Publish what a crash left in these outboxes, every `outbox_sweep_seconds`."""
        for sweep in sweeps:
            self.loops.append(relay_loop(sweep, self.settings.outbox_sweep_seconds))

    async def mongo_ok(self) -> bool:
        return True if self.mongo is None else await ping(self.db)

    async def kafka_ok(self) -> bool:
        return await self.broker.ping(timeout=2.0)

    async def _on_startup(self) -> None:
        await _retry_until_ready(lambda: ensure_topics(self.settings), "Kafka topics")
        for hook in self.startup:
            await _retry_until_ready(hook, getattr(hook, "__name__", "start-up hook"))

    async def _after_startup(self) -> None:
        self._stop = asyncio.Event()
        for loop in self.loops:
            self._tasks.append(asyncio.ensure_future(loop(self._stop)))

    async def _on_shutdown(self) -> None:
        if self._stop is not None:
            self._stop.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.dead_letters.pipeline.drain(timeout=5.0)
        # What was handled since the last round, before the consumers close.
        with contextlib.suppress(Exception):
            await self.dead_letters.offsets.commit()
        for hook in self.shutdown:
            await hook()
        if self.mongo is not None:
            await self.mongo.close()


async def _retry_until_ready(hook: Hook, what: str, attempts: int = 30) -> None:
    """Dependencies may come up after us (compose, systemd): wait, bounded, then fail."""
    for attempt in range(1, attempts + 1):
        try:
            await hook()
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("%s not ready (%s); retrying", what, exc)
            await asyncio.sleep(min(0.5 * attempt, 3.0))


def build_runtime(settings: ServiceSettings, *, with_mongo: bool = True) -> Runtime:
    """`with_mongo=False` when every store is a fake. Failures go to `<service>.dlq`, a topic
    of the registry like any other (ValueError here if it is missing there)."""
    registry = CollectorRegistry()
    dlq = Topic(f"{settings.service_name}.dlq")
    tracer = provider_for(settings)
    broker, policy = create_broker(settings, registry=registry, dlq=dlq, tracer=tracer)
    # No `prefix=settings.topic_prefix`: it would reach only what subscribes through this
    # router, while the publisher, the dead-letter policy, its office's subscription and topic
    # creation name topics with `topic_name`. One function names every topic instead.
    router = KafkaRouter()
    mongo = (
        create_client(
            settings.mongodb_url,
            app_name=settings.service_name,
            registry=registry,
            max_pool_size=settings.mongodb_max_pool_size,
        )
        if with_mongo
        else None
    )
    runtime = Runtime(
        settings=settings,
        registry=registry,
        broker=broker,
        dead_letters=policy,
        router=router,
        publisher=KafkaEventPublisher(broker, settings, tracer),
        mongo=mongo,
        tracer=tracer,
    )
    runtime.loops.append(policy.offsets.run)
    return runtime


def asgi_app(
    runtime: Runtime,
    routes: list[BaseRoute],
    *,
    title: str,
    state: Mapping[str, object] | None = None,
    errors: ErrorTable | None = None,
    on_refusal: OnRefusal | None = None,
    page: RefusalPage | None = None,
) -> tuple[AsgiFastStream, ASGIApp, Starlette]:
    """The service's ASGI app: the broker's lifecycle, /healthz, /metrics, AsyncAPI, the API.

    `state` is what the module-level endpoints read from `request.app.state` (the
    service's handlers); `errors` is the service's error table, `page` a website's answer
    to a browser for a path it has not (`exception_handlers`). The API, and only the API,
    is behind the per-client rate limit (`shared.limits`): an orchestrator's probes and the
    metrics scraper are never refused."""
    runtime.broker.include_router(runtime.router)
    checks = {"kafka": runtime.kafka_ok, "mongodb": runtime.mongo_ok}
    fs_app = AsgiFastStream(
        runtime.broker,
        asgi_routes=[
            ("/healthz", health_handler(checks)),
            # prometheus-client's own endpoint: the text format, or OpenMetrics and gzip when
            # the scraper asks for them.
            ("/metrics", make_asgi_app(runtime.registry)),
        ],
        asyncapi_path="/docs/asyncapi",
        on_startup=[runtime._on_startup],
        after_startup=[runtime._after_startup],
        on_shutdown=[runtime._on_shutdown],
    )
    api = Starlette(
        routes=routes, exception_handlers=exception_handlers(errors or {}, on_refusal, page)
    )
    api.state.title = title
    for name, value in (state or {}).items():
        setattr(api.state, name, value)
    limited = rate_limited(api, runtime.settings, runtime.registry)
    app = traced(limited, runtime.tracer, runtime.settings.service_name)
    return fs_app, compose(fs_app, app), api
