"""Routing's HTTP API: the cases and the officers' work queues."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.routing.domain.model import Case
from services.routing.handlers import RoutingHandlers
from shared.http import JSON, ApiError

MAX_PAGE = 500


def case_view(case: Case, now: Any) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "org_id": case.org_id,
        "status": case.status.value,
        "kind": case.kind,
        "channel": case.channel,
        "text": case.text,
        "received_at": case.received_at,
        "categories": [{"code": c, "score": s} for c, s in case.categories],
        "department": case.department,
        "officer": {"id": case.officer_id} if case.officer_id else None,
        "reasons": case.reasons,
        "acknowledge_due_at": case.acknowledge_due_at,
        "respond_due_at": case.respond_due_at,
        "overdue": case.is_overdue(now),
        "escalation_level": case.escalation_level,
        "duplicate_of": case.duplicate_of,
        "assigned_at": case.assigned_at,
        "updated_at": case.updated_at,
        "timeline": [
            {"seq": t.seq, "at": t.at, "action": t.action, "status": t.status,
             "officer_id": t.officer_id, "note": t.note}
            for t in case.timeline
        ],
    }


def routes(handlers: RoutingHandlers) -> list[BaseRoute]:
    async def get_case(request: Request) -> Response:
        case_id = request.path_params["case_id"]
        case = await handlers.cases.get(case_id)
        if case is None:
            raise ApiError(404, "case_not_found", f"no case {case_id}")
        return JSON(case_view(case, handlers.clock.now()))

    async def list_cases(request: Request) -> Response:
        q = request.query_params
        filters: dict[str, Any] = {}
        for field in ("department", "officer_id", "status", "channel", "channel_message_id"):
            if q.get(field):
                filters[field] = q[field]
        try:
            limit = min(int(q.get("limit", "100")), MAX_PAGE)
            offset = int(q.get("offset", "0"))
        except ValueError as exc:
            raise ApiError(400, "bad_query", "limit and offset must be integers") from exc
        if limit < 1 or offset < 0:
            raise ApiError(400, "bad_query", "limit must be >= 1 and offset >= 0")
        found = await handlers.cases.find(filters, limit, offset)
        now = handlers.clock.now()
        return JSON({"items": [case_view(c, now) for c in found], "limit": limit, "offset": offset})

    return [
        Route("/v1/cases", list_cases, methods=["GET"]),
        Route("/v1/cases/{case_id}", get_case, methods=["GET"]),
    ]
