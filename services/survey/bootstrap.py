"""The one place the survey service is wired together. Tests call it with fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp

from services.survey import http, subscribers
from services.survey.adapters.config_files import load_config
from services.survey.adapters.mongo_surveys import (
    MongoAggregateStore,
    MongoAlertRepository,
    MongoResponseRepository,
    MongoSurveyRepository,
)
from services.survey.domain.model import SurveyConfig
from services.survey.handlers import SurveyHandlers, new_token
from services.survey.metrics import SurveyMetrics
from services.survey.ports import (
    AggregateStore,
    AlertRepository,
    ResponseRepository,
    SurveyRepository,
    TokenSource,
)
from services.survey.settings import SurveySettings
from shared.clock import Clock, SystemClock
from shared.dead_letters import DeadLetterOffice, keep_dead_letters
from shared.outbox import relay_loop
from shared.runtime import Runtime, asgi_app, build_runtime
from shared.topics import Topic


@dataclass
class SurveyService:
    settings: SurveySettings
    runtime: Runtime
    handlers: SurveyHandlers
    dead_letters: DeadLetterOffice | None
    faststream: AsgiFastStream
    asgi: ASGIApp


def create_service(
    settings: SurveySettings | None = None,
    *,
    surveys: SurveyRepository | None = None,
    responses: ResponseRepository | None = None,
    aggregates: AggregateStore | None = None,
    alerts: AlertRepository | None = None,
    clock: Clock | None = None,
    config: SurveyConfig | None = None,
    tokens: TokenSource | None = None,
) -> SurveyService:
    settings = settings or SurveySettings()
    fakes = None not in (surveys, responses, aggregates, alerts)
    runtime = build_runtime(settings, dlq=Topic.SURVEY_DLQ, with_mongo=not fakes)
    if surveys is None:
        survey_repo = MongoSurveyRepository(runtime.db, runtime.publisher)
        runtime.startup.append(survey_repo.ensure_indexes)
        surveys = survey_repo
    if responses is None:
        response_repo = MongoResponseRepository(runtime.db, runtime.publisher)
        runtime.startup.append(response_repo.ensure_indexes)
        responses = response_repo
    if aggregates is None:
        aggregate_store = MongoAggregateStore(runtime.db)
        runtime.startup.append(aggregate_store.ensure_indexes)
        aggregates = aggregate_store
    if alerts is None:
        alert_repo = MongoAlertRepository(runtime.db, runtime.publisher)
        runtime.startup.append(alert_repo.ensure_indexes)
        alerts = alert_repo
    for sweep in (surveys.sweep, responses.sweep, alerts.sweep):
        runtime.loops.append(relay_loop(sweep, settings.outbox_sweep_seconds))
    clock = clock or SystemClock()
    handlers = SurveyHandlers(
        surveys,
        responses,
        aggregates,
        alerts,
        clock,
        SurveyMetrics(runtime.registry),
        config or load_config(settings.config_dir),
        org_id=settings.org_id,
        token_ttl=timedelta(days=settings.token_ttl_days),
        public_base_url=settings.public_base_url,
        tokens=tokens or new_token,
        max_csv_rows=settings.max_csv_rows,
    )
    # Gauges live in the process: after a restart, fill them from the stored figures.
    runtime.startup.append(handlers.refresh_gauges)
    subscribers.register(runtime, handlers)
    office = keep_dead_letters(runtime, clock)
    routes = http.routes() + (office.routes() if office else [])
    state = {"handlers": handlers, "settings": settings}
    fs_app, app = asgi_app(
        runtime,
        routes,
        title="Ruam survey",
        state=state,
        errors=http.ERRORS,
        on_refusal=http.count_refusal,
    )
    return SurveyService(settings, runtime, handlers, office, fs_app, app)
