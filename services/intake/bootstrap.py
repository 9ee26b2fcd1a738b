"""The one place intake is wired together. Tests call it with fakes."""

from __future__ import annotations

from datetime import timedelta

from services.intake import http, line_content, line_push, subscribers
from services.intake.adapters.directory import department_names
from services.intake.adapters.mongo_submissions import (
    MongoRecordBook,
    MongoSubmissionRepository,
    MongoThreads,
    MongoVault,
)
from services.intake.handlers import IntakeHandlers, channel_of
from services.intake.line_content import CitizenMedia
from services.intake.line_push import CitizenPush
from services.intake.metrics import IntakeMetrics
from services.intake.ports import (
    RecordBook,
    SubmissionRepository,
    Threads,
    VaultStore,
)
from services.intake.settings import DEV_VAULT_KEY, IntakeSettings
from services.intake.vault import PersonalVault, sealer_of
from shared.audit import AuditTrail
from shared.clock import Clock, SystemClock
from shared.dead_letters import DeadLetterStore
from shared.line import LinePush
from shared.outbox import RawPublisher, periodic
from shared.runtime import build_runtime
from shared.service import Service, assemble

IntakeService = Service[IntakeSettings, IntakeHandlers]


def create_service(
    settings: IntakeSettings | None = None,
    *,
    submissions: SubmissionRepository | None = None,
    vault: VaultStore | None = None,
    records: RecordBook | None = None,
    threads: Threads | None = None,
    dead_letters: DeadLetterStore | None = None,
    agencies: dict[str, str] | None = None,
    clock: Clock | None = None,
    publisher: RawPublisher | None = None,
) -> IntakeService:
    """`publisher` takes what is published outside an outbox (audit records of reads);
    the broker by default, a fake in the tests."""
    settings = settings or IntakeSettings()
    ports = (submissions, vault, records, threads, dead_letters)
    runtime = build_runtime(settings, with_mongo=any(p is None for p in ports))
    if submissions is None:
        repo = MongoSubmissionRepository(runtime.db, runtime.publisher)
        runtime.startup.append(repo.ensure_indexes)
        submissions = repo
    runtime.relay(submissions.sweep)
    if vault is None:
        mongo_vault = MongoVault(runtime.db)
        runtime.startup.append(mongo_vault.ensure_indexes)
        vault = mongo_vault
    records = records or MongoRecordBook(runtime.db)
    threads = threads or MongoThreads(runtime.db)
    clock = clock or SystemClock()
    personal = PersonalVault(
        vault,
        sealer_of(settings.vault_keys, DEV_VAULT_KEY),
        clock,
        retention=timedelta(days=settings.vault_retention_days),
    )
    runtime.loops.append(
        periodic(
            personal.purge,
            settings.vault_purge_seconds,
            "vault purged expired entries",
            # Not in the rush of a start (a backlog of redeliveries); retention is in days.
            first_after=min(60.0, settings.vault_purge_seconds),
        )
    )
    handlers = IntakeHandlers(
        submissions,
        personal,
        clock,
        IntakeMetrics(runtime.registry),
        org_id=settings.org_id,
        case_prefix=settings.org_prefix,
        records=records,
        threads=threads,
        publisher=publisher or runtime.publisher,
        api_keys=settings.api_keys,
        line_secret=settings.line_channel_secret,
        line_window=timedelta(minutes=settings.line_thread_minutes),
        agencies=agencies
        if agencies is not None
        else department_names(settings.org_id, settings.directory_path),
        audit=AuditTrail(publisher or runtime.publisher, settings.service_name, clock),
    )
    if settings.line_push:
        line = LinePush(
            settings.line_channel_access_token.get_secret_value(),
            base_url=settings.line_api_base_url,
            data_base_url=settings.line_data_base_url,
        )
        citizen = CitizenPush(
            personal,
            line,
            records,
            clock,
            handlers.metrics,
            org_id=settings.org_id,
            portal_url=settings.portal_url,
        )
        line_push.register(runtime, citizen)
        media = CitizenMedia(
            submissions,
            personal,
            line,
            handlers.metrics,
            org_id=settings.org_id,
            max_bytes=settings.line_media_max_bytes,
        )
        line_content.register(runtime, media)
        runtime.shutdown.append(line.close)
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
