"""The one place the survey service is wired together. Tests call it with fakes."""

from __future__ import annotations

from datetime import timedelta

from services.survey import http, subscribers
from services.survey.adapters.config_files import load_config
from services.survey.adapters.mongo_surveys import (
    MongoAggregateStore,
    MongoAlertRepository,
    MongoResponseRates,
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
from shared.ops import each
from shared.outbox import periodic
from shared.runtime import build_runtime
from shared.service import Service, assemble

SurveyService = Service[SurveySettings, SurveyHandlers]
# The response ratio reads every survey and response: once a minute is plenty for a gauge.
RESPONSE_RATIO_SECONDS = 60.0


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
    runtime = build_runtime(settings, with_mongo=not fakes)
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
    runtime.relay(surveys.sweep, responses.sweep, alerts.sweep)
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
    if isinstance(surveys, MongoSurveyRepository):
        rates = MongoResponseRates(runtime.db)

        async def response_ratio() -> None:
            for year, ratio in (await rates.by_year()).items():
                handlers.metrics.response_ratio.labels(str(year)).set(ratio)

        runtime.loops.append(periodic(each(response_ratio), RESPONSE_RATIO_SECONDS, "ops"))
    return assemble(
        settings, runtime, handlers, clock, subscribers.register, http, http.count_refusal
    )
