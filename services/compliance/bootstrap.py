"""The one place compliance is wired together. Tests call it with fakes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp

from services.compliance import http, subscribers
from services.compliance.adapters.config_files import load_policies
from services.compliance.adapters.mongo_projects import MongoProjectRepository
from services.compliance.domain.policy import Policies
from services.compliance.handlers import ComplianceHandlers
from services.compliance.metrics import ComplianceMetrics
from services.compliance.ports import ProjectRepository
from services.compliance.settings import ComplianceSettings
from shared.clock import Clock, SystemClock
from shared.dead_letters import DeadLetterOffice, keep_dead_letters
from shared.outbox import periodic, relay_loop
from shared.runtime import Runtime, asgi_app, build_runtime
from shared.topics import Topic

log = logging.getLogger("ruam.compliance")


@dataclass
class ComplianceService:
    settings: ComplianceSettings
    runtime: Runtime
    handlers: ComplianceHandlers
    dead_letters: DeadLetterOffice | None
    faststream: AsgiFastStream
    asgi: ASGIApp


def create_service(
    settings: ComplianceSettings | None = None,
    *,
    projects: ProjectRepository | None = None,
    policies: Policies | None = None,
    clock: Clock | None = None,
) -> ComplianceService:
    settings = settings or ComplianceSettings()
    runtime = build_runtime(settings, dlq=Topic.COMPLIANCE_DLQ, with_mongo=projects is None)
    if projects is None:
        repo = MongoProjectRepository(runtime.db, runtime.publisher)
        runtime.startup.append(repo.ensure_indexes)
        projects = repo
    runtime.loops.append(relay_loop(projects.sweep, settings.outbox_sweep_seconds))
    clock = clock or SystemClock()
    handlers = ComplianceHandlers(
        projects,
        policies or load_policies(settings.config_dir),
        clock,
        ComplianceMetrics(runtime.registry),
    )
    runtime.loops.append(
        periodic(
            handlers.check_timers,
            settings.timer_interval_seconds,
            "compliance timers raised warning(s)/violation(s)",
        )
    )
    subscribers.register(runtime, handlers)
    office = keep_dead_letters(runtime, clock)
    routes = http.routes() + (office.routes() if office else [])
    state = {"handlers": handlers, "settings": settings}
    fs_app, app = asgi_app(
        runtime, routes, title="Ruam compliance", state=state, errors=http.ERRORS
    )
    return ComplianceService(settings, runtime, handlers, office, fs_app, app)
