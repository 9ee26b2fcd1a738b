"""The one place compliance is wired together. Tests call it with fakes."""

from __future__ import annotations

from services.compliance import http, subscribers
from services.compliance.adapters.config_files import load_policies
from services.compliance.adapters.mongo_audit import MongoAuditTrail
from services.compliance.adapters.mongo_projects import MongoProjectRepository
from services.compliance.domain.policy import Policies
from services.compliance.handlers import ComplianceHandlers
from services.compliance.metrics import ComplianceMetrics
from services.compliance.ports import AuditTrailStore, ProjectRepository
from services.compliance.settings import ComplianceSettings
from shared.clock import Clock, SystemClock
from shared.outbox import periodic
from shared.runtime import build_runtime
from shared.service import Service, assemble

ComplianceService = Service[ComplianceSettings, ComplianceHandlers]


def create_service(
    settings: ComplianceSettings | None = None,
    *,
    projects: ProjectRepository | None = None,
    policies: Policies | None = None,
    clock: Clock | None = None,
    audit_trail: AuditTrailStore | None = None,
) -> ComplianceService:
    settings = settings or ComplianceSettings()
    runtime = build_runtime(settings, with_mongo=projects is None)
    if projects is None:
        repo = MongoProjectRepository(runtime.db, runtime.publisher)
        runtime.startup.append(repo.ensure_indexes)
        projects = repo
    runtime.relay(projects.sweep)
    if audit_trail is None:
        trail = MongoAuditTrail(runtime.db)
        runtime.startup.append(trail.ensure_indexes)
        audit_trail = trail
    clock = clock or SystemClock()
    handlers = ComplianceHandlers(
        projects,
        policies or load_policies(settings.config_dir),
        clock,
        ComplianceMetrics(runtime.registry),
        audit_trail,
    )
    runtime.loops.append(
        periodic(
            handlers.check_timers,
            settings.timer_interval_seconds,
            "compliance timers raised warning(s)/violation(s)",
        )
    )
    return assemble(settings, runtime, handlers, clock, subscribers.register, http)
