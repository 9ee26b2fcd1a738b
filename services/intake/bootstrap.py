"""The one place intake is wired together. Tests call it with fakes."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp

from services.intake import http, subscribers
from services.intake.adapters.mongo_submissions import (
    MongoContactVault,
    MongoSubmissionRepository,
)
from services.intake.handlers import IntakeHandlers
from services.intake.metrics import IntakeMetrics
from services.intake.ports import Clock, ContactVault, SubmissionRepository
from services.intake.settings import IntakeSettings
from shared.clock import SystemClock
from shared.outbox import relay_loop
from shared.runtime import Runtime, asgi_app, build_runtime
from shared.topics import Topic


@dataclass
class IntakeService:
    settings: IntakeSettings
    runtime: Runtime
    handlers: IntakeHandlers
    faststream: AsgiFastStream
    asgi: ASGIApp


def create_service(
    settings: IntakeSettings | None = None,
    *,
    submissions: SubmissionRepository | None = None,
    contacts: ContactVault | None = None,
    clock: Clock | None = None,
) -> IntakeService:
    settings = settings or IntakeSettings()
    fakes = submissions is not None and contacts is not None
    runtime = build_runtime(settings, dlq=Topic.INTAKE_DLQ, with_mongo=not fakes)
    if submissions is None:
        repo = MongoSubmissionRepository(runtime.db, runtime.publisher)
        runtime.startup.append(repo.ensure_indexes)
        submissions = repo
    if contacts is None:
        contacts = MongoContactVault(runtime.db)
    runtime.loops.append(relay_loop(submissions.sweep, settings.outbox_sweep_seconds))
    handlers = IntakeHandlers(
        submissions,
        contacts,
        clock or SystemClock(),
        IntakeMetrics(runtime.registry),
        org_id=settings.org_id,
        case_prefix=settings.org_prefix,
    )
    subscribers.register(runtime, handlers)
    fs_app, app = asgi_app(runtime, http.routes(handlers, settings), title="Ruam intake")
    return IntakeService(settings, runtime, handlers, fs_app, app)
