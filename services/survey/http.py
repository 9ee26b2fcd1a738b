"""The survey service's HTTP API: answering, campaigns, aggregates, the ITA report."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from services.survey.domain.errors import (
    AlreadyAnswered,
    CampaignClosed,
    CampaignNotFound,
    InvalidAnswers,
    SurveyError,
    SurveyExpired,
    SurveyNotFound,
    UnreadableCsv,
)
from services.survey.domain.model import DIMENSIONS, ResponseSubmission, Survey
from services.survey.handlers import SurveyHandlers
from services.survey.report import build_report, render_chart, render_html
from services.survey.settings import SurveySettings
from shared.access import CASE_READERS, CASE_WORKERS, OVERSEERS, Endpoint, anyone, roles
from shared.audit import audit_trail
from shared.auth import principal, require
from shared.http import (
    FISCAL_YEARS,
    JSON,
    ApiError,
    ErrorTable,
    app_state,
    parse_int,
    read_body,
    read_model,
)
from shared.roles import Role
from shared.thai import fiscal_year_be

BY_VALUES = (*(d for d in DIMENSIONS if d != "org"), "question")


def handlers_of(request: Request) -> SurveyHandlers:
    return app_state(request, "handlers", SurveyHandlers)


def settings_of(request: Request) -> SurveySettings:
    return app_state(request, "settings", SurveySettings)


def _invalid_answers(exc: InvalidAnswers) -> ApiError:
    return ApiError(422, "validation_failed", str(exc), exc.details)


ERRORS: ErrorTable = {
    SurveyNotFound: (404, "not_found"),
    CampaignNotFound: (404, "not_found"),
    SurveyExpired: (410, "survey_expired"),
    AlreadyAnswered: (409, "already_answered"),
    CampaignClosed: (409, "campaign_closed"),
    InvalidAnswers: _invalid_answers,
    UnreadableCsv: (400, "invalid_csv"),
    SurveyError: (422, "refused"),
}


def count_refusal(request: Request, exc: Exception, error: ApiError) -> None:
    # The metric counts refused responses; a malformed query or body is not one.
    if isinstance(exc, SurveyError):
        handlers_of(request).metrics.refused.labels(error.code).inc()


def survey_view(
    survey: Survey, answered: bool, now: Any, *, with_token: bool = False
) -> dict[str, Any]:
    """A survey; its token and link (which let anyone answer as the citizen) only for the one
    who already holds the token."""
    status = "answered" if answered else ("expired" if now > survey.expires_at else "open")
    secret = {"token": survey.token, "link": survey.link} if with_token else {}
    return {
        "survey_id": survey.survey_id,
        "case_id": survey.case_id,
        **secret,
        "status": status,
        "channel": survey.channel,
        "department": survey.department,
        "category": survey.category,
        "resolved_at": survey.resolved_at,
        "requested_at": survey.requested_at,
        "expires_at": survey.expires_at,
        "questionnaire_version": survey.questionnaire_version,
    }


def _fiscal_year(raw: str | None, default: int | None = None) -> int:
    """A Buddhist-Era fiscal year such as 2569 (Thai digits too); blank is `default`."""
    return parse_int(raw, "fiscal_year", *FISCAL_YEARS, default=default, code="bad_fiscal_year")


async def find_surveys(request: Request) -> Response:
    """Whether a case's surveys were answered (never their tokens); officers and heads see
    their own department's."""
    handlers = handlers_of(request)
    who = await principal(request)
    case_id = request.query_params.get("case_id")
    if not case_id:
        raise ApiError(400, "bad_query", "case_id is required")
    now = handlers.clock.now()
    found = await handlers.surveys_of_case(case_id)
    every = who.has(*OVERSEERS)
    shown = [
        (s, a)
        for s, a in found
        if s.org_id == who.org_id and (every or s.department == who.department)
    ]
    return JSON({"items": [survey_view(s, answered, now) for s, answered in shown]})


async def get_survey(request: Request) -> Response:
    handlers = handlers_of(request)
    survey, questionnaire, answered = await handlers.open_survey(request.path_params["token"])
    return JSON(
        {
            **survey_view(survey, answered, handlers.clock.now(), with_token=True),
            **questionnaire.view(),
        }
    )


async def post_response(request: Request) -> Response:
    submission = await read_model(request, ResponseSubmission, settings_of(request).max_body_bytes)
    response = await handlers_of(request).respond(request.path_params["token"], submission)
    return JSON(
        {
            "response_id": response.response_id,
            "case_id": response.case_id,
            "responded_at": response.responded_at,
            "fiscal_year": response.fiscal_year,
            "month": response.month,
        },
        status_code=201,
    )


async def list_campaigns(request: Request) -> Response:
    campaigns = handlers_of(request).config.campaigns.values()
    return JSON({"items": [c.model_dump() for c in campaigns]})


async def get_campaign(request: Request) -> Response:
    handlers = handlers_of(request)
    campaign = handlers.campaign(request.path_params["campaign_id"])
    questionnaire = handlers.questionnaire(campaign.questionnaire)
    return JSON({**campaign.model_dump(), **questionnaire.view()})


async def _campaign_csv(request: Request, campaign_id: str) -> Response:
    raw = await read_body(request, settings_of(request).max_body_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_csv", "the CSV must be UTF-8") from exc
    result = await handlers_of(request).upload_campaign_csv(campaign_id, text)
    return JSON(
        {
            "accepted": len(result.accepted),
            "already_recorded": len(result.already_recorded),
            "rejected": result.rejected,
            "response_ids": result.accepted,
        },
        status_code=200,
    )


async def post_campaign_response(request: Request) -> Response:
    """One answer from anyone (the questionnaire is public); a CSV of paper forms only from
    the officers who typed them in."""
    campaign_id = request.path_params["campaign_id"]
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "text/csv":
        await require(request, *CASE_WORKERS)
        return await _campaign_csv(request, campaign_id)
    submission = await read_model(request, ResponseSubmission, settings_of(request).max_body_bytes)
    try:
        response = await handlers_of(request).respond_campaign(campaign_id, submission)
    except CampaignClosed as exc:
        if submission.responded_at is None:
            raise
        # A paper form dated outside the campaign is a wrong date, not a closed campaign.
        raise InvalidAnswers(
            [{"field": "responded_at", "message": str(exc), "type": "date"}]
        ) from exc
    return JSON(
        {
            "response_id": response.response_id,
            "responded_at": response.responded_at,
            "fiscal_year": response.fiscal_year,
        },
        status_code=201,
    )


def _org_and_year(request: Request) -> tuple[str, int]:
    org_id = request.query_params.get("org_id") or settings_of(request).org_id
    current = fiscal_year_be(handlers_of(request).clock.now())
    return org_id, _fiscal_year(request.query_params.get("fiscal_year"), current)


async def get_satisfaction(request: Request) -> Response:
    org_id, fiscal_year = _org_and_year(request)
    by = request.query_params.get("by") or None
    if by is not None and by not in BY_VALUES:
        raise ApiError(400, "bad_query", f"by must be one of {', '.join(BY_VALUES)}")
    return JSON(await handlers_of(request).satisfaction(org_id, fiscal_year, by))


async def rebuild(request: Request) -> Response:
    who = await principal(request)
    await audit_trail(request).record(who, request, "satisfaction.rebuild", "satisfaction")
    return JSON(await handlers_of(request).rebuild())


async def list_alerts(request: Request) -> Response:
    """The signed-in organisation's alerts and improvement actions."""
    handlers = handlers_of(request)
    _, fiscal_year = _org_and_year(request)
    org_id = (await principal(request)).org_id
    report = await build_report(handlers, org_id, fiscal_year, handlers.clock.now())
    return JSON(
        {
            "fiscal_year": fiscal_year,
            "items": report["alerts"],
            "actions_by_status": report["actions_by_status"],
        }
    )


async def _report(request: Request) -> dict[str, Any]:
    handlers = handlers_of(request)
    fiscal_year = _fiscal_year(request.path_params["fiscal_year"])
    org_id = request.query_params.get("org_id") or settings_of(request).org_id
    return await build_report(handlers, org_id, fiscal_year, handlers.clock.now())


async def get_report(request: Request) -> Response:
    report = await _report(request)
    wants_json = request.query_params.get("format") == "json" or (
        "application/json" in request.headers.get("accept", "")
        and "text/html" not in request.headers.get("accept", "")
    )
    if wants_json:
        return JSON(report)
    # Drawing takes a CPU-bound moment: off the event loop, so consumers keep going.
    png = await asyncio.to_thread(render_chart, report)
    return HTMLResponse(render_html(report, png))


async def get_chart(request: Request) -> Response:
    report = await _report(request)
    png = await asyncio.to_thread(render_chart, report)
    return Response(png, media_type="image/png")


TOKEN = anyone("the survey token in the path is the citizen's credential")
PUBLISHED = anyone("published: satisfaction figures and the ITA report (measure 1)")
CAMPAIGNS = anyone("public questionnaires; a CSV of paper forms needs an officer's token")


def routes() -> list[BaseRoute]:
    return [
        Endpoint("/v1/surveys", find_surveys, ["GET"], roles(*CASE_READERS)),
        Endpoint("/v1/surveys/{token}", get_survey, ["GET"], TOKEN),
        Endpoint("/v1/surveys/{token}/responses", post_response, ["POST"], TOKEN),
        Endpoint("/v1/campaigns", list_campaigns, ["GET"], CAMPAIGNS),
        Endpoint("/v1/campaigns/{campaign_id}", get_campaign, ["GET"], CAMPAIGNS),
        Endpoint(
            "/v1/campaigns/{campaign_id}/responses", post_campaign_response, ["POST"], CAMPAIGNS
        ),
        Endpoint("/v1/satisfaction", get_satisfaction, ["GET"], PUBLISHED),
        Endpoint("/v1/satisfaction/rebuild", rebuild, ["POST"], roles(Role.OPERATOR)),
        Endpoint("/v1/alerts", list_alerts, ["GET"], roles(*CASE_READERS)),
        Endpoint("/v1/reports/satisfaction/{fiscal_year}", get_report, ["GET"], PUBLISHED),
        Endpoint("/v1/reports/satisfaction/{fiscal_year}/chart.png", get_chart, ["GET"], PUBLISHED),
    ]
