"""The survey service's HTTP API: answering, campaigns, aggregates, the ITA report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from services.survey.domain.errors import (
    AlreadyAnswered,
    CampaignClosed,
    CampaignNotFound,
    InvalidAnswers,
    SurveyError,
    SurveyExpired,
    SurveyNotFound,
)
from services.survey.domain.model import DIMENSIONS, ResponseSubmission, Survey
from services.survey.handlers import SurveyHandlers
from services.survey.report import build_report, render_chart, render_html
from services.survey.settings import SurveySettings
from shared.http import JSON, ApiError, read_body, read_model
from shared.thai import fiscal_year_be, thai_digits_to_arabic

BY_VALUES = (*(d for d in DIMENSIONS if d != "org"), "question")


def to_api_error(exc: SurveyError) -> ApiError:
    if isinstance(exc, SurveyNotFound | CampaignNotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, SurveyExpired):
        return ApiError(410, "survey_expired", str(exc))
    if isinstance(exc, AlreadyAnswered):
        return ApiError(409, "already_answered", str(exc))
    if isinstance(exc, CampaignClosed):
        return ApiError(409, "campaign_closed", str(exc))
    if isinstance(exc, InvalidAnswers):
        return ApiError(422, "validation_failed", str(exc), exc.details)
    return ApiError(422, "refused", str(exc))


def survey_view(survey: Survey, answered: bool, now: Any) -> dict[str, Any]:
    status = "answered" if answered else ("expired" if now > survey.expires_at else "open")
    return {
        "survey_id": survey.survey_id,
        "case_id": survey.case_id,
        "token": survey.token,
        "link": survey.link,
        "status": status,
        "channel": survey.channel,
        "department": survey.department,
        "category": survey.category,
        "resolved_at": survey.resolved_at,
        "requested_at": survey.requested_at,
        "expires_at": survey.expires_at,
        "questionnaire_version": survey.questionnaire_version,
    }


def _fiscal_year(raw: str | None, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    text = thai_digits_to_arabic(raw.strip())
    if not (text.isdigit() and 2400 <= int(text) <= 2800):
        raise ApiError(
            400,
            "bad_fiscal_year",
            f"fiscal_year must be a Buddhist-Era year such as 2569, not {raw!r}",
        )
    return int(text)


def routes(handlers: SurveyHandlers, settings: SurveySettings) -> list[BaseRoute]:
    def refusals(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await endpoint(request)
            except SurveyError as exc:
                error = to_api_error(exc)
                handlers.metrics.refused.labels(error.code).inc()
                raise error from exc

        return wrapped

    async def find_surveys(request: Request) -> Response:
        case_id = request.query_params.get("case_id")
        if not case_id:
            raise ApiError(400, "bad_query", "case_id is required")
        now = handlers.clock.now()
        found = await handlers.surveys_of_case(case_id)
        return JSON({"items": [survey_view(s, answered, now) for s, answered in found]})

    async def get_survey(request: Request) -> Response:
        survey, questionnaire, answered = await handlers.open_survey(request.path_params["token"])
        return JSON(
            {
                **survey_view(survey, answered, handlers.clock.now()),
                **questionnaire.view(),
            }
        )

    async def post_response(request: Request) -> Response:
        submission = await read_model(request, ResponseSubmission, settings.max_body_bytes)
        response = await handlers.respond(request.path_params["token"], submission)
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

    async def list_campaigns(_request: Request) -> Response:
        return JSON({"items": [c.model_dump() for c in handlers.config.campaigns.values()]})

    async def get_campaign(request: Request) -> Response:
        campaign = handlers.campaign(request.path_params["campaign_id"])
        questionnaire = handlers.questionnaire(campaign.questionnaire)
        return JSON({**campaign.model_dump(), **questionnaire.view()})

    async def post_campaign_response(request: Request) -> Response:
        campaign_id = request.path_params["campaign_id"]
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "text/csv":
            raw = await read_body(request, settings.max_body_bytes)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ApiError(400, "invalid_csv", "the CSV must be UTF-8") from exc
            result = await handlers.upload_campaign_csv(campaign_id, text)
            return JSON(
                {
                    "accepted": len(result.accepted),
                    "already_recorded": len(result.already_recorded),
                    "rejected": result.rejected,
                    "response_ids": result.accepted,
                },
                status_code=200,
            )
        submission = await read_model(request, ResponseSubmission, settings.max_body_bytes)
        try:
            response = await handlers.respond_campaign(campaign_id, submission)
        except CampaignClosed as exc:
            if submission.responded_at is None:
                raise
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

    def _query(request: Request) -> tuple[str, int]:
        org_id = request.query_params.get("org_id") or settings.org_id
        current = fiscal_year_be(handlers.clock.now())
        return org_id, _fiscal_year(request.query_params.get("fiscal_year"), current)

    async def get_satisfaction(request: Request) -> Response:
        org_id, fiscal_year = _query(request)
        by = request.query_params.get("by") or None
        if by is not None and by not in BY_VALUES:
            raise ApiError(400, "bad_query", f"by must be one of {', '.join(BY_VALUES)}")
        return JSON(await handlers.satisfaction(org_id, fiscal_year, by))

    async def rebuild(_request: Request) -> Response:
        return JSON(await handlers.rebuild())

    async def list_alerts(request: Request) -> Response:
        org_id, fiscal_year = _query(request)
        report = await build_report(handlers, org_id, fiscal_year, handlers.clock.now())
        return JSON(
            {
                "fiscal_year": fiscal_year,
                "items": report["alerts"],
                "actions_by_status": report["actions_by_status"],
            }
        )

    async def _report(request: Request) -> dict[str, Any]:
        fiscal_year = _fiscal_year(request.path_params["fiscal_year"], 0)
        org_id = request.query_params.get("org_id") or settings.org_id
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

    return [
        Route("/v1/surveys", refusals(find_surveys), methods=["GET"]),
        Route("/v1/surveys/{token}", refusals(get_survey), methods=["GET"]),
        Route("/v1/surveys/{token}/responses", refusals(post_response), methods=["POST"]),
        Route("/v1/campaigns", refusals(list_campaigns), methods=["GET"]),
        Route("/v1/campaigns/{campaign_id}", refusals(get_campaign), methods=["GET"]),
        Route(
            "/v1/campaigns/{campaign_id}/responses",
            refusals(post_campaign_response),
            methods=["POST"],
        ),
        Route("/v1/satisfaction", refusals(get_satisfaction), methods=["GET"]),
        Route("/v1/satisfaction/rebuild", refusals(rebuild), methods=["POST"]),
        Route("/v1/alerts", refusals(list_alerts), methods=["GET"]),
        Route("/v1/reports/satisfaction/{fiscal_year}", refusals(get_report), methods=["GET"]),
        Route(
            "/v1/reports/satisfaction/{fiscal_year}/chart.png", refusals(get_chart), methods=["GET"]
        ),
    ]
