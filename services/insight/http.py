"""Insight's HTTP API: the live analysis (JSON, for the officers' console), consultations,
improvement plans, and the published quarterly reports (HTML and PDF, for the portal)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from services.insight import report
from services.insight.domain import plan as plans
from services.insight.domain import rules
from services.insight.domain.errors import InvalidPlan, NotAllowedNow, NotFound, OutOfScope
from services.insight.domain.plan import Action, Consultation, Finding, FollowUp
from services.insight.handlers import InsightHandlers
from services.insight.settings import InsightSettings
from shared.access import CASE_READERS, Endpoint, anyone, roles
from shared.auth import Principal, principal
from shared.dates import BeDate, parse_be_date
from shared.http import FISCAL_YEARS, JSON, ApiError, ErrorTable, app_state, parse_int, read_model
from shared.redact import redact
from shared.roles import Role
from shared.store import Lru
from shared.thai import fiscal_year_be

PUBLISHED = anyone("published: the quarterly analysis reports, counts only (measure 1 and 3)")
ANALYSTS = roles(*CASE_READERS, Role.PLANNER)
RECORDERS = roles(Role.OFFICER, Role.HEAD, Role.EXECUTIVE, Role.PLANNER)
PLANNERS = roles(Role.HEAD, Role.EXECUTIVE)
FOLLOWERS = roles(Role.OFFICER, Role.HEAD, Role.EXECUTIVE)


def _invalid(exc: InvalidPlan) -> ApiError:
    return ApiError(
        422,
        "validation_failed",
        str(exc),
        [{"field": p.split(":")[0], "message": p} for p in exc.problems],
    )


ERRORS: ErrorTable = {
    InvalidPlan: _invalid,
    NotAllowedNow: (409, "not_allowed_now"),
    NotFound: (404, "not_found"),
    OutOfScope: (403, "forbidden"),
}


def handlers_of(request: Request) -> InsightHandlers:
    return app_state(request, "handlers", InsightHandlers)


def settings_of(request: Request) -> InsightSettings:
    return app_state(request, "settings", InsightSettings)


def _int(
    request: Request, name: str, default: int | None = None, lo: int = 0, hi: int = 10_000
) -> int:
    raw = request.query_params.get(name) or request.path_params.get(name)
    if raw is None and default is None:
        raise ApiError(400, "invalid_query", f"{name} is required", [{"field": name}])
    return parse_int(raw, name, lo, hi, default=default, code="invalid_query")


def _fy(request: Request, handlers: InsightHandlers) -> int:
    return _int(request, "fy", fiscal_year_be(handlers.clock.now()), *FISCAL_YEARS)


def _org(p: Principal) -> str:
    return p.org_id


def _known(h: InsightHandlers, department: str) -> bool:
    """A department of the organisation's directory, the one list of them (routing's)."""
    return department in h.directory.departments


def _department(h: InsightHandlers, department: str) -> str:
    """A department named in the path: one the directory does not know is no such thing."""
    if not _known(h, department):
        raise NotFound(f"no department {department[:64]!r} in the directory")
    return department


# ------------------------------------------------------------------ the analysis (JSON)


def _department_asked(request: Request, h: InsightHandlers) -> str | None:
    """`?department=`, if given: one the directory does not know would only answer an
    empty page, as if the department had no cases."""
    department = request.query_params.get("department") or None
    if department is not None and not _known(h, department):
        raise ApiError(
            400,
            "invalid_query",
            f"department: no department {department[:64]!r} in the directory",
            [{"field": "department", "message": "not a department of the directory"}],
        )
    return department


async def figures(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    dim = request.query_params.get("dim", "department")
    if dim not in rules.DIMS:
        raise ApiError(
            400, "invalid_query", f"dim: one of {', '.join(rules.DIMS)}", [{"field": "dim"}]
        )
    fy = _fy(request, h)
    rows = [{"value": b.value, **rules.rates(b.counts)} for b in await h.slices(_org(p), dim, fy)]
    return JSON({"fiscal_year": fy, "dim": dim, "slices": rows})


async def quarter(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    fy = _int(request, "fiscal_year", None, *FISCAL_YEARS)
    q = _int(request, "quarter", None, 1, 4)
    dept = _department_asked(request, h)
    return JSON(
        {
            "fiscal_year": fy,
            "quarter": q,
            "department": dept,
            **await h.quarter(_org(p), fy, q, dept),
        }
    )


async def hotspots(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    raw = request.query_params.get("until")
    try:
        until = parse_be_date(raw) if raw else h.today()
    except ValueError as exc:
        raise ApiError(
            400,
            "invalid_query",
            f"until: YYYY-MM-DD (Common or Buddhist Era): {exc}",
            [{"field": "until", "message": str(exc)}],
        ) from exc
    window = _int(request, "window_days", h.hotspot_window_days, 1, 366)
    at_least = _int(request, "at_least", h.hotspot_at_least, 2, 1000)
    found = await h.hotspots(_org(p), until, window, at_least)
    return JSON(
        {"until": until.isoformat(), "window_days": window, "at_least": at_least, "hotspots": found}
    )


async def seasonality(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    fy = _fy(request, h)
    category = request.query_params.get("category")
    return JSON(
        {
            "fiscal_year": fy,
            "category": category,
            "months": await h.seasonality(_org(p), fy, category),
            "waves": await h.waves(_org(p), fy),
        }
    )


async def silent_villages(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    fy = _fy(request, h)
    return JSON({"fiscal_year": fy, "villages": await h.silent_villages(_org(p), fy)})


async def causes(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    fy = _fy(request, h)
    return JSON(
        {
            "fiscal_year": fy,
            "causes": await h.causes(_org(p), fy, _department_asked(request, h)),
        }
    )


async def check(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    return JSON(await h.check(p.org_id))


# ------------------------------------------------------------------ consultations


# A point raised at a meeting is at most as long as a case's description (intake's).
Said = Annotated[str, Field(max_length=4000)]


class ConsultationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consultation_id: str | None = Field(default=None, min_length=1, max_length=100)
    held_on: BeDate
    kind: str = Field(pattern=r"^(village_forum|public_hearing|focus_group|survey_meeting|other)$")
    title: str = Field(min_length=1, max_length=300)
    participants: dict[str, int] = Field(min_length=1, max_length=30)
    said: list[Said] = Field(default_factory=list, max_length=50)
    village_no: int | None = Field(default=None, ge=1, le=99)
    department: str | None = Field(default=None, max_length=64)
    case_ids: list[str] = Field(default_factory=list, max_length=100)
    categories: list[str] = Field(default_factory=list, max_length=30)
    project_ids: list[str] = Field(default_factory=list, max_length=30)
    minutes_case_id: str | None = Field(default=None, max_length=64)
    activity_id: str | None = Field(default=None, min_length=1, max_length=100)


async def post_consultation(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    body = await read_model(request, ConsultationBody, settings_of(request).max_body_bytes)
    if body.department is not None:
        if not _known(h, body.department):
            raise ApiError(
                422,
                "validation_failed",
                f"department: no department {body.department!r} in the directory",
                [{"field": "department", "message": "not a department of the directory"}],
            )
        # Planners record the whole SAO's participation and belong to no department;
        # officers and heads speak for their own department, as in its plan.
        if not p.has(Role.PLANNER):
            _scope(p, body.department)
    consultation = Consultation(
        consultation_id=body.consultation_id or h.new_id(),
        org_id=p.org_id,
        held_on=body.held_on,
        kind=body.kind,
        # What was said is kept as the public may read it: no names, phones or house numbers.
        title=redact(body.title),
        participants=body.participants,
        said=tuple(redact(s) for s in body.said),
        village_no=body.village_no,
        department=body.department,
        case_ids=tuple(body.case_ids),
        categories=tuple(body.categories),
        project_ids=tuple(body.project_ids),
        minutes_case_id=body.minutes_case_id,
        activity_id=body.activity_id,
        recorded_by=p.officer_id or p.subject,
        recorded_at=h.clock.now().isoformat(),
    )
    kept, added = await h.record_consultation(consultation)
    _forget_reports(request)
    view = {**kept.view(), "raised": await h.raised_at(kept)}
    return JSON(view, status_code=201 if added else 200)


async def list_consultations(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    raw = request.query_params.get("fy")
    fy = _fy(request, h) if raw else None
    found = await h.find_consultations(p.org_id, fy)
    return JSON({"consultations": [{**c.view(), "raised": await h.raised_at(c)} for c in found]})


# ------------------------------------------------------------------ improvement plans


def _scope(p: Principal, department: str) -> None:
    """Officers and heads plan and follow up their own department's work only."""
    if p.has(Role.EXECUTIVE, Role.AUDITOR):
        return
    if p.department != department:
        raise OutOfScope(f"the plan of {department} is not your department's")


def _plan_key(request: Request) -> tuple[str, int, int]:
    return (
        _department(handlers_of(request), str(request.path_params["department"])),
        _int(request, "fiscal_year", None, *FISCAL_YEARS),
        _int(request, "quarter", None, 1, 4),
    )


async def list_plans(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    found = await h.plans.find(p.org_id, _fy(request, h))
    return JSON({"plans": [await h.plan_view(x) for x in found]})


async def get_plan(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    dept, fy, q = _plan_key(request)
    return JSON(await h.plan_view(await h.get_plan(p.org_id, dept, fy, q)))


class FindingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    finding_id: str | None = Field(default=None, min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)
    source: str = Field(default="analysis", pattern=r"^(analysis|consultation|survey_alert)$")
    metric: str | None = None
    ref: str | None = Field(default=None, max_length=200)


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action_id: str | None = Field(default=None, min_length=1, max_length=100)
    finding_id: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)
    owner: str = Field(min_length=1, max_length=100)
    due: BeDate
    metric: str
    expected: str = Field(min_length=1, max_length=300)


class FollowUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000)
    status: str
    on: BeDate | None = None


async def post_finding(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    dept, fy, q = _plan_key(request)
    b = await read_model(request, FindingBody, settings_of(request).max_body_bytes)
    _scope(p, dept)
    finding = Finding(b.finding_id or h.new_id(), redact(b.text), b.source, b.metric, b.ref)
    plan = await h.add_finding(p.org_id, dept, fy, q, finding)
    _forget_reports(request)
    return JSON(await h.plan_view(plan), status_code=201)


async def post_action(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    dept, fy, q = _plan_key(request)
    b = await read_model(request, ActionBody, settings_of(request).max_body_bytes)
    _scope(p, dept)
    action = Action(
        b.action_id or h.new_id(),
        b.finding_id,
        redact(b.text),
        b.owner,
        b.due,
        b.metric,
        b.expected,
    )
    plan = await h.add_action(p.org_id, dept, fy, q, action)
    _forget_reports(request)
    return JSON(await h.plan_view(plan), status_code=201)


async def post_followup(request: Request) -> Response:
    h = handlers_of(request)
    p = await principal(request)
    dept, fy, q = _plan_key(request)
    b = await read_model(request, FollowUpBody, settings_of(request).max_body_bytes)
    _scope(p, dept)
    f = FollowUp(b.on or h.today(), redact(b.note), b.status)
    plan = await h.follow_up(p.org_id, dept, fy, q, str(request.path_params["action_id"]), f)
    _forget_reports(request)
    return JSON(await h.plan_view(plan), status_code=201)


# ------------------------------------------------------------------ published reports


def _report_key(request: Request) -> tuple[int, int, str | None]:
    """Checked before anything is drawn: a report takes a second or more of CPU, and anyone
    may ask for one, so only the directory's departments have one."""
    fy = _int(request, "fiscal_year", None, *FISCAL_YEARS)
    q = _int(request, "quarter", None, 1, 4)
    dept = request.path_params.get("department")
    return fy, q, (_department(handlers_of(request), str(dept)) if dept else None)


async def list_reports(request: Request) -> Response:
    h = handlers_of(request)
    org = settings_of(request).org_id
    return JSON({"reports": await report.published(h, org)})


# Drawing a report's charts (matplotlib) and laying out its PDF (WeasyPrint) take the CPU
# for a second or more: one report at a time, on a thread of its own, so the event loop
# keeps consuming and answering; and a report drawn is kept a minute, since the portal
# passes the same one on to every reader (a published quarter changes slowly).
_RENDERER = ThreadPoolExecutor(1, thread_name_prefix="ruam-report")
_KEPT_SECONDS = 60.0
_DRAWN = 64  # drawings kept by content: a few dozen reports, HTML and PDF, ~0.2-1 MB each


def _digest(built: dict[str, Any]) -> str:
    text = json.dumps(built, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


Kept = dict[tuple[int, int, str | None, str], tuple[float, bytes]]


async def _rendered(request: Request, kind: str) -> bytes:
    fy, q, dept = _report_key(request)
    key = (fy, q, dept, kind)
    state = request.app.state
    if not hasattr(state, "reports_kept"):  # this app's, not the process's
        state.reports_kept, state.reports_drawing = {}, {}
        state.reports_drawn = Lru[bytes](_DRAWN)
    kept: Kept = state.reports_kept
    drawing: dict[Any, asyncio.Future[bytes]] = state.reports_drawing
    found = kept.get(key)
    if found is not None and time.monotonic() - found[0] < _KEPT_SECONDS:
        return found[1]
    if key in drawing:  # asked again while being drawn: the same drawing
        return await asyncio.shield(drawing[key])
    future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    drawing[key] = future
    try:
        settings = settings_of(request)
        built = await report.build(handlers_of(request), settings.org_id, fy, q, dept)
        # What a drawing shows is all in `built`: one drawn before from the same content is
        # the same drawing, however long ago (the next run of a demo, a reader after the
        # minute). Only a change in the figures, plans or consultations draws again.
        content = (kind, _digest(built))
        drawn: Lru[bytes] = state.reports_drawn
        data = drawn.get(content)
        if data is None:
            if kind == "pdf":
                work = functools.partial(report.render_pdf, built, settings.font_dir)
            else:
                work = functools.partial(_html_bytes, built, settings.font_dir)
            data = await asyncio.get_running_loop().run_in_executor(_RENDERER, work)
            drawn.put(content, data)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: a drawing nobody else waited for is not an error
        raise
    finally:
        del drawing[key]
    future.set_result(data)
    now = time.monotonic()
    for stale in [k for k, (at, _) in kept.items() if now - at >= _KEPT_SECONDS]:
        del kept[stale]
    kept[key] = (now, data)
    return data


def _forget_reports(request: Request) -> None:
    """A consultation or a plan changed: the reports drawn before it are not shown again."""
    getattr(request.app.state, "reports_kept", {}).clear()


def _html_bytes(built: dict[str, Any], font_dir: Path) -> bytes:
    return report.render_html(built, font_dir).encode("utf-8")


async def report_html(request: Request) -> Response:
    return HTMLResponse(await _rendered(request, "html"))


_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def content_disposition(fy: int, q: int, dept: str | None) -> str:
    """`inline` with an ASCII file name any client can take (a header is latin-1, and a
    quote or a line break in it would end the value or the header) and the real one in
    RFC 5987's `filename*`, for the clients that read UTF-8."""
    name = f"insight-{fy}-q{q}{'-' + dept if dept else ''}.pdf"
    ascii_name = _UNSAFE_IN_NAME.sub("_", name)
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def report_pdf(request: Request) -> Response:
    fy, q, dept = _report_key(request)
    pdf = await _rendered(request, "pdf")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(fy, q, dept)},
    )


def routes() -> list[BaseRoute]:
    return [
        Endpoint("/v1/insight/figures", figures, ["GET"], ANALYSTS),
        Endpoint("/v1/insight/quarters/{fiscal_year}/{quarter}", quarter, ["GET"], ANALYSTS),
        Endpoint("/v1/insight/hotspots", hotspots, ["GET"], ANALYSTS),
        Endpoint("/v1/insight/seasonality", seasonality, ["GET"], ANALYSTS),
        Endpoint("/v1/insight/silent-villages", silent_villages, ["GET"], ANALYSTS),
        Endpoint("/v1/insight/causes", causes, ["GET"], ANALYSTS),
        Endpoint("/v1/insight/check", check, ["GET"], roles(Role.OPERATOR, Role.AUDITOR)),
        Endpoint("/v1/consultations", post_consultation, ["POST"], RECORDERS),
        Endpoint("/v1/consultations", list_consultations, ["GET"], ANALYSTS),
        Endpoint("/v1/plans", list_plans, ["GET"], ANALYSTS),
        Endpoint("/v1/plans/{department}/{fiscal_year}/{quarter}", get_plan, ["GET"], ANALYSTS),
        Endpoint(
            "/v1/plans/{department}/{fiscal_year}/{quarter}/findings",
            post_finding,
            ["POST"],
            PLANNERS,
        ),
        Endpoint(
            "/v1/plans/{department}/{fiscal_year}/{quarter}/actions",
            post_action,
            ["POST"],
            PLANNERS,
        ),
        Endpoint(
            "/v1/plans/{department}/{fiscal_year}/{quarter}/actions/{action_id}/followups",
            post_followup,
            ["POST"],
            FOLLOWERS,
        ),
        Endpoint("/v1/reports", list_reports, ["GET"], PUBLISHED),
        Endpoint("/v1/reports/{fiscal_year}/{quarter}.html", report_html, ["GET"], PUBLISHED),
        Endpoint("/v1/reports/{fiscal_year}/{quarter}.pdf", report_pdf, ["GET"], PUBLISHED),
        Endpoint(
            "/v1/reports/{fiscal_year}/{quarter}/{department}.html", report_html, ["GET"], PUBLISHED
        ),
        Endpoint(
            "/v1/reports/{fiscal_year}/{quarter}/{department}.pdf", report_pdf, ["GET"], PUBLISHED
        ),
    ]


__all__ = ["ERRORS", "plans", "routes"]
