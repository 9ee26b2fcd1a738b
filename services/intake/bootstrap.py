"""The one place intake is wired together. Tests call it with fakes."""

from __future__ import annotations

from datetime import timedelta

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
from shared.dead_letters import DeadLetterStore
from shared.runtime import build_runtime
from shared.service import Service, assemble

IntakeService = Service[IntakeSettings, IntakeHandlers]


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
    runtime = build_runtime(settings, with_mongo=any(p is None for p in ports))
    if submissions is None:
        repo = MongoSubmissionRepository(runtime.db, runtime.publisher)
        runtime.startup.append(repo.ensure_indexes)
        submissions = repo
    runtime.relay(submissions.sweep)
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
    return assemble(
        settings,
        runtime,
        handlers,
        clock,
        subscribers.register,
        http,
        http.count_refusal,
        letter_store=dead_letters,
        describe_letter=lambda text: {"channel": channel_of(text)},
    )
