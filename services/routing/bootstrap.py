"""The one place routing is wired together. Tests call it with fakes."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp

from services.routing import http, subscribers
from services.routing.adapters.mongo_cases import MongoCaseRepository
from services.routing.handlers import RoutingHandlers
from services.routing.metrics import RoutingMetrics
from services.routing.ports import CaseRepository, Clock
from services.routing.settings import RoutingSettings
from shared.clock import SystemClock
from shared.outbox import relay_loop
from shared.runtime import Runtime, asgi_app, build_runtime
from shared.topics import Topic


@dataclass
class RoutingService:
    settings: RoutingSettings
    runtime: Runtime
    handlers: RoutingHandlers
    faststream: AsgiFastStream
    asgi: ASGIApp


def create_service(
    settings: RoutingSettings | None = None,
    *,
    cases: CaseRepository | None = None,
    clock: Clock | None = None,
) -> RoutingService:
    settings = settings or RoutingSettings()
    runtime = build_runtime(settings, dlq=Topic.ROUTING_DLQ, with_mongo=cases is None)
    if cases is None:
        repo = MongoCaseRepository(runtime.db, runtime.publisher)
        runtime.startup.append(repo.ensure_indexes)
        cases = repo
    runtime.loops.append(relay_loop(cases.sweep, settings.outbox_sweep_seconds))
    handlers = RoutingHandlers(cases, clock or SystemClock(), RoutingMetrics(runtime.registry))
    subscribers.register(runtime, handlers)
    fs_app, app = asgi_app(runtime, http.routes(handlers), title="Ruam routing")
    return RoutingService(settings, runtime, handlers, fs_app, app)
