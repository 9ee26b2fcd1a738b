"""The one place insight is wired together. Tests call it with fakes."""

from __future__ import annotations

from services.insight import http, subscribers
from services.insight.adapters.directory import Directory, load_directory
from services.insight.adapters.mongo_insight import (
    MongoCases,
    MongoConsultations,
    MongoFigures,
    MongoPlans,
)
from services.insight.handlers import InsightHandlers
from services.insight.metrics import InsightMetrics
from services.insight.ports import (
    CaseRepository,
    ConsultationRepository,
    FigureRepository,
    PlanRepository,
)
from services.insight.settings import InsightSettings
from shared.clock import Clock, SystemClock
from shared.runtime import build_runtime
from shared.service import Service, assemble

InsightService = Service[InsightSettings, InsightHandlers]


def create_service(
    settings: InsightSettings | None = None,
    *,
    cases: CaseRepository | None = None,
    figures: FigureRepository | None = None,
    consultations: ConsultationRepository | None = None,
    plans: PlanRepository | None = None,
    directory: Directory | None = None,
    clock: Clock | None = None,
) -> InsightService:
    settings = settings or InsightSettings()
    faked = None not in (cases, figures, consultations, plans)
    runtime = build_runtime(settings, with_mongo=not faked)
    if cases is None:
        mongo_cases = MongoCases(runtime.db)
        runtime.startup.append(mongo_cases.ensure_indexes)
        cases = mongo_cases
    if figures is None:
        mongo_figures = MongoFigures(runtime.db)
        runtime.startup.append(mongo_figures.ensure_indexes)
        figures = mongo_figures
    if consultations is None:
        mongo_consultations = MongoConsultations(runtime.db)
        runtime.startup.append(mongo_consultations.ensure_indexes)
        consultations = mongo_consultations
    if plans is None:
        mongo_plans = MongoPlans(runtime.db)
        runtime.startup.append(mongo_plans.ensure_indexes)
        plans = mongo_plans
    clock = clock or SystemClock()
    handlers = InsightHandlers(
        cases,
        figures,
        consultations,
        plans,
        directory or load_directory(settings.directory_dir, settings.org_id),
        clock,
        InsightMetrics(runtime.registry),
        hotspot_window_days=settings.hotspot_window_days,
        hotspot_at_least=settings.hotspot_at_least,
    )
    return assemble(settings, runtime, handlers, clock, subscribers.register, http)
