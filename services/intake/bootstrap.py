"""The one place intake is wired together. Tests call it with fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp

from services.intake import http, subscribers
from services.intake.adapters.directory import department_names
from services.intake.adapters.mongo_submissions import (
    MongoContactVault,
    MongoRecordBook,
    MongoSubmissionRepository,
    MongoThreads,
)
from services.intake.handlers import IntakeHandlers, channel_of
from services.intake.metrics import IntakeMetrics
from services.intake.ports import (
    ContactVault,
    RecordBook,
    SubmissionRepository,
    Threads,
)
from services.intake.settings import IntakeSettings
from shared.clock import Clock, SystemClock
from shared.dead_letters import DeadLetterOffice, DeadLetterStore, keep_dead_letters
from shared.outbox import relay_loop
from shared.runtime import Runtime, asgi_app, build_runtime
from shared.topics import Topic


@dataclass
class IntakeService:
    settings: IntakeSettings
    runtime: Runtime
    handlers: IntakeHandlers
    dead_letters: DeadLetterOffice | None
    faststream: AsgiFastStream
    asgi: ASGIApp


def create_service(
    settings: IntakeSettings | None = None,
    *,
    submissions: SubmissionRepository | None = None,
    contacts: ContactVault | None = None,
    records: RecordBook | None = None,
    threads: Threads | None = None,
    dead_letters: DeadLetterStore | None = None,
    agencies: dict[str, str] | None = None,
    clock: Clock | None = None,
) -> IntakeService:
    settings = settings or IntakeSettings()
    ports = (submissions, contacts, records, threads, dead_letters)
    runtime = build_runtime(
        settings, dlq=Topic.INTAKE_DLQ, with_mongo=any(p is None for p in ports)
    )
    if submissions is None:
        repo = MongoSubmissionRepository(runtime.db, runtime.publisher)
        runtime.startup.append(repo.ensure_indexes)
        submissions = repo
    contacts = contacts or MongoContactVault(runtime.db)
    records = records or MongoRecordBook(runtime.db)
    threads = threads or MongoThreads(runtime.db)
    clock = clock or SystemClock()
    handlers = IntakeHandlers(
        submissions,
        contacts,
        clock,
        IntakeMetrics(runtime.registry),
        org_id=settings.org_id,
        case_prefix=settings.org_prefix,
        records=records,
        threads=threads,
        publisher=runtime.publisher,
        api_keys=settings.api_keys,
        line_secret=settings.line_channel_secret,
        line_window=timedelta(minutes=settings.line_thread_minutes),
        agencies=agencies
        if agencies is not None
        else department_names(settings.org_id, settings.directory_path),
    )
    runtime.loops.append(relay_loop(submissions.sweep, settings.outbox_sweep_seconds))
    subscribers.register(runtime, handlers)
    office = keep_dead_letters(
        runtime, clock, store=dead_letters, describe=lambda text: {"channel": channel_of(text)}
    )
    routes = http.routes() + (office.routes() if office else [])
    state = {"handlers": handlers, "settings": settings}
    fs_app, app = asgi_app(
        runtime,
        routes,
        title="Ruam intake",
        state=state,
        errors=http.ERRORS,
        on_refusal=http.count_refusal,
    )
    return IntakeService(settings, runtime, handlers, office, fs_app, app)
