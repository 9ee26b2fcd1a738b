"""Intake's HTTP API: the canonical submission endpoint."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.intake.domain.errors import IntakeError
from services.intake.domain.model import Submission
from services.intake.handlers import IntakeHandlers
from services.intake.settings import IntakeSettings
from shared.http import JSON, ApiError, read_model


def routes(handlers: IntakeHandlers, settings: IntakeSettings) -> list[BaseRoute]:
    async def post_submission(request: Request) -> Response:
        try:
            sub = await read_model(request, Submission, settings.max_body_bytes)
        except ApiError as err:
            handlers.metrics.refused.labels("http", err.code).inc()
            raise
        try:
            accepted = await handlers.submit(sub)
        except IntakeError as exc:
            handlers.metrics.refused.labels(sub.channel.value, "refused").inc()
            raise ApiError(422, "refused", str(exc)) from exc
        return JSON(
            {
                "case_id": accepted.case_id,
                "status": "received",
                "received_at": accepted.received_at,
                "duplicate": not accepted.created,
            },
            status_code=202,
        )

    return [Route("/v1/submissions", post_submission, methods=["POST"])]
