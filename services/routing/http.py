"""Routing's HTTP API: cases, officers' work queues, officer actions, routing preview."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from services.routing.domain.access import (
    Viewer,
    department_scope,
    may_read,
    sees_attachments,
    sees_personal_data,
    sees_whistleblowing,
)
from services.routing.domain.directory import Directory
from services.routing.domain.errors import (
    CaseNotFound,
    InvalidCommand,
    InvalidTransition,
    NotPermitted,
    UnknownOrganisation,
)
from services.routing.domain.lifecycle import Command
from services.routing.domain.model import HISTORY_CHUNK, HISTORY_KINDS, Case, Status
from services.routing.domain.rules import is_corruption
from services.routing.handlers import Actor, RoutingHandlers
from services.routing.identity import Issuer
from services.routing.identity_http import routes as issuer_routes
from shared.access import CASE_READERS, CASE_WORKERS, Endpoint, roles
from shared.audit import source_of
from shared.auth import Principal, principal
from shared.events.cases import Channel, Kind, Location
from shared.http import (
    JSON,
    VILLAGES,
    ApiError,
    ErrorTable,
    app_state,
    page,
    parse_int,
    read_model,
    validation_error,
)
from shared.redact import redact
from shared.roles import Role
from shared.taxonomy import CAUSES

MAX_TEXT = 10_000
FILTERS = (
    "department",
    "officer_id",
    "status",
    "channel",
    "channel_message_id",
    "category",
    "kind",
)


class ActionRequest(BaseModel):
    """`{"action": ..., "officer_id": ..., "params": {...}}`; parameters may also be given
    beside `action` (e.g. `"resolution": "..."`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    action: str = Field(min_length=1, max_length=40)
    officer_id: str | None = Field(default=None, max_length=64)
    params: dict[str, str] = Field(default_factory=dict)
    command_id: str | None = Field(default=None, min_length=1, max_length=200)

    def all_params(self) -> dict[str, str]:
        extra = dict(self.model_extra or {})
        bad = [k for k, v in extra.items() if not isinstance(v, str)]
        if bad:
            raise ApiError(
                422,
                "validation_failed",
                f"{bad[0]}: must be a string",
                [{"field": bad[0], "message": "must be a string", "type": "string_type"}],
            )
        return {**extra, **self.params}


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(max_length=MAX_TEXT)
    location: Location | None = None
    kind: Kind = Kind.COMPLAINT
    service_code: str | None = Field(default=None, max_length=64)
    department_hint: str | None = Field(default=None, max_length=64)

    @field_validator("text")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value


def case_view(
    case: Case,
    now: datetime,
    directory: Directory | None,
    *,
    personal: bool = False,
    attachments: bool = False,
) -> dict[str, Any]:
    """A case as `GET /v1/cases/{id}` shows it; free text redacted unless `personal` (the
    viewer may see personal data: `domain.access.sees_personal_data`), what the citizen sent
    only with `attachments` (`domain.access.sees_attachments`: [] otherwise)."""
    shown = _as_is if personal else redact
    dept = directory.department(case.department) if directory else None
    officer = directory.officer(case.officer_id) if directory else None
    return {
        "case_id": case.case_id,
        "org_id": case.org_id,
        "status": case.status.value,
        "kind": case.kind,
        "channel": case.channel,
        "channel_message_id": case.channel_message_id,
        "text": shown(case.text),
        "personal_data": personal,
        "received_at": case.received_at,
        "category": case.category,
        "category_source": case.category_source,
        "categories": [
            {
                "code": c.code,
                "label_th": c.label_th,
                "label_en": c.label_en,
                "score": c.score,
                "evidence": list(c.evidence),
            }
            for c in case.categories
        ],
        "department": case.department,
        "department_name": {"th": dept.name_th, "en": dept.name_en} if dept else None,
        "officer": (
            {"id": case.officer_id, "name": officer.name if officer else None}
            if case.officer_id
            else None
        ),
        "reasons": case.reasons,
        "village_no": case.village_no,
        "location": _location(case, personal),
        "acknowledge_due_at": case.acknowledge_due_at,
        "respond_due_at": case.respond_due_at,
        "expected_datetime": case.respond_due_at,  # Open311's name for it
        "overdue": case.is_overdue(now),
        "paused": case.paused_since is not None,
        "escalation_level": case.escalation_level,
        "escalations": [asdict(e) for e in case.escalations],
        "duplicate_of": case.duplicate_of,
        "likely_duplicate_of": case.likely_duplicate_of,
        "duplicate_reason": case.duplicate_reason,
        "accused_department": case.accused_department,
        "forwarded_to": case.forwarded_to,
        "resolution": shown(case.resolution) if case.resolution else None,
        "after_photo_ref": case.after_photo_ref if attachments else None,
        "attachments": (
            [{"kind": a.kind, "ref": a.ref} for a in case.attachments] if attachments else []
        ),
        "cause": case.cause,
        "cause_label_th": _cause_label(case.cause),
        "cause_note": shown(case.cause_note) if case.cause_note else None,
        "acknowledged_at": case.acknowledged_at,
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
        "assignment_no": case.assignment_no,
        "assignments": [asdict(a) for a in case.assignments],
        "assigned_at": case.assigned_at,
        "updated_at": case.updated_at,
        "timeline": [_entry(asdict(t), shown) for t in case.timeline],
        # Older entries of each list, filed away: GET /v1/cases/{id}/history/{kind}/{chunk}
        "filed": {kind: case.filed.get(kind, 0) for kind in HISTORY_KINDS},
        "filed_chunk_size": HISTORY_CHUNK,
    }


def _cause_label(code: str | None) -> str | None:
    found = {c.code: c.label_th for c in CAUSES}
    return found.get(code, code) if code else None


def _as_is(text: str) -> str:
    return text


# About 110 m: the public site's rounding. A point can be a citizen's house: exact only for
# those who may see the case's personal data.
ROUNDED_PLACES = 3


def _location(case: Case, personal: bool) -> dict[str, Any] | None:
    if case.lat is None or case.lon is None:
        return None
    if personal:
        return {"lat": case.lat, "lon": case.lon, "exact": True}
    places = ROUNDED_PLACES
    return {"lat": round(case.lat, places), "lon": round(case.lon, places), "exact": False}


def _entry(entry: dict[str, Any], shown: Callable[[str], str]) -> dict[str, Any]:
    note = entry.get("note")
    return {**entry, "note": shown(note)} if isinstance(note, str) else entry


def summary_view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A work-queue row: the indexed fields only (no timeline, reasons or text)."""
    since = row.get("overdue_from")
    return {
        "case_id": row["_id"],
        "status": row.get("status"),
        "kind": row.get("kind"),
        "channel": row.get("channel"),
        "channel_message_id": row.get("channel_message_id"),
        "received_at": row.get("received_at"),
        "category": row.get("category"),
        "category_source": row.get("category_source"),
        "department": row.get("department"),
        "officer_id": row.get("officer_id"),
        "village_no": row.get("village_no"),
        "respond_due_at": row.get("respond_due_at"),
        "overdue": since is not None and since < now,
        "escalation_level": row.get("escalation_level") or 0,
        "likely_duplicate_of": row.get("likely_duplicate_of"),
    }


def handlers_of(request: Request) -> RoutingHandlers:
    return app_state(request, "handlers", RoutingHandlers)


def _invalid_command(exc: InvalidCommand) -> ApiError:
    details = [{"field": exc.field, "message": exc.message}]
    return ApiError(422, "validation_failed", str(exc), details)


ERRORS: ErrorTable = {
    CaseNotFound: (404, "case_not_found"),
    NotPermitted: (403, "forbidden"),
    InvalidTransition: (409, "invalid_transition"),
    InvalidCommand: _invalid_command,
    ValidationError: validation_error,
}


def _directory(handlers: RoutingHandlers, case: Case) -> Directory | None:
    # A case of an organisation whose directory is gone is still shown, unnamed.
    try:
        return handlers.directory(case.org_id)
    except UnknownOrganisation:
        return None


def _case_filters(q: QueryParams) -> tuple[dict[str, Any], str | None]:
    """The store's filters and `overdue` ("true", "false" or unset) of `GET /v1/cases`."""
    filters: dict[str, Any] = {f: q[f] for f in FILTERS if q.get(f)}
    for field, known in (("kind", Kind), ("channel", Channel)):
        if field in filters and filters[field] not in {v.value for v in known}:
            raise ApiError(400, "bad_query", f"unknown {field} {filters[field]!r}")
    statuses = [s for s in q.get("status", "").split(",") if s]
    unknown = sorted(set(statuses) - {s.value for s in Status})
    if unknown:
        raise ApiError(400, "bad_query", f"unknown status {unknown[0]!r}")
    if len(statuses) > 1:
        # A work queue's several open states in one request (the console's), not one each.
        filters["status"] = {"$in": statuses}
    if "village_no" in q:
        filters["village_no"] = parse_int(q["village_no"], "village_no", *VILLAGES)
    overdue = q.get("overdue")
    if overdue not in (None, "", "true", "false"):
        raise ApiError(400, "bad_query", "overdue must be true or false")
    return filters, overdue


def _view(
    handlers: RoutingHandlers, case: Case, viewer: Viewer, now: datetime | None = None
) -> dict[str, Any]:
    """The case as this viewer may see it."""
    return case_view(
        case,
        now or handlers.clock.now(),
        _directory(handlers, case),
        personal=sees_personal_data(viewer, case),
        attachments=sees_attachments(viewer, case),
    )


async def viewer_of(request: Request) -> tuple[Principal, Viewer]:
    who = await principal(request)
    return who, Viewer(who.roles, who.department, who.officer_id, who.org_id)


async def readable_case(request: Request) -> tuple[Case, Viewer]:
    """The case of the path, if the signed-in viewer may read it (403 if not; 404 if none)."""
    handlers = handlers_of(request)
    case_id = request.path_params["case_id"]
    case = await handlers.cases.get(case_id)
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    _, viewer = await viewer_of(request)
    if not may_read(viewer, case):
        raise NotPermitted(f"{case_id} is not a case this role or department may see")
    return case, viewer


async def get_case(request: Request) -> Response:
    handlers = handlers_of(request)
    case, viewer = await readable_case(request)
    return JSON(_view(handlers, case, viewer))


async def list_cases(request: Request) -> Response:
    """The cases the viewer may see: officers and heads their own department's only (asking
    for another department is refused, not answered empty), whistle-blowers' reports only
    for executives and auditors."""
    handlers = handlers_of(request)
    who, viewer = await viewer_of(request)
    filters, overdue = _case_filters(request.query_params)
    filters["org_id"] = who.org_id  # one cluster serves many organisations
    scope = department_scope(viewer)
    if scope is not None:
        if filters.get("department", scope) != scope:
            raise NotPermitted("an officer or head lists only their own department's cases")
        filters["department"] = scope
    limit, offset = page(request)
    view = request.query_params.get("view", "full")
    if view not in ("full", "summary"):
        raise ApiError(400, "bad_query", "view must be full or summary")
    now = handlers.clock.now()
    at = now if overdue == "true" else None
    items: list[dict[str, Any]]
    if view == "summary":
        rows = await handlers.cases.summaries(filters, limit, offset, overdue_at=at)
        items = [
            summary_view(r, now)
            for r in rows
            if sees_whistleblowing(viewer)
            or not is_corruption(r.get("kind", ""), r.get("category"))
        ]
    else:
        found = await handlers.cases.find(filters, limit, offset, overdue_at=at)
        if overdue == "false":
            found = [c for c in found if not c.is_overdue(now)]
        items = [_view(handlers, c, viewer, now) for c in found if may_read(viewer, c)]
    # `total=false`: a work queue that shows its rows does without the count, a second read
    # of the index (on FerretDB a second scan of it).
    wants_total = request.query_params.get("total", "true") != "false"
    total = await handlers.cases.count(filters, overdue_at=at) if wants_total else None
    return JSON({"items": items, "total": total, "limit": limit, "offset": offset})


async def post_action(request: Request) -> Response:
    """An officer action. The officer is the one signed in: an `officer_id` in the body
    that names someone else is refused."""
    handlers = handlers_of(request)
    who, viewer = await viewer_of(request)
    body = await read_model(request, ActionRequest)
    if body.officer_id is not None and body.officer_id != who.officer_id:
        raise NotPermitted("officer_id is the signed-in officer's; leave it out")
    command_id = body.command_id or request.headers.get("idempotency-key") or ""
    cmd = Command(body.action, who.officer_id, body.all_params(), command_id[:200])
    actor = Actor(who.officer_id, "http", principal=who, source=source_of(request))
    case = await handlers.act(request.path_params["case_id"], cmd, actor)
    return JSON(_view(handlers, case, viewer))


async def preview(request: Request) -> Response:
    body = await read_model(request, PreviewRequest, MAX_TEXT * 4 + 4096)
    result = await handlers_of(request).preview(
        body.text, body.kind.value, body.location, body.service_code, body.department_hint
    )
    return JSON(result)


async def get_history(request: Request) -> Response:
    """Filed entries of a case's history: chunk 0 is the oldest."""
    handlers = handlers_of(request)
    case_id, kind = request.path_params["case_id"], request.path_params["kind"]
    if kind not in HISTORY_KINDS:
        raise ApiError(404, "not_found", f"no history {kind!r}; one of {list(HISTORY_KINDS)}")
    case, viewer = await readable_case(request)
    shown = _as_is if sees_personal_data(viewer, case) else redact
    chunk = request.path_params["chunk"]
    chunks = case.filed.get(kind, 0) // HISTORY_CHUNK
    if chunk >= chunks:
        raise ApiError(404, "not_found", f"{case_id} has {chunks} filed chunk(s) of {kind}")
    entries = await handlers.cases.history(case_id, kind, chunk)
    body = {"case_id": case_id, "kind": kind, "chunk": chunk, "chunks": chunks}
    return JSON({**body, "entries": [_entry(asdict(e), shown) for e in entries]})


async def get_directory(request: Request) -> Response:
    """The organisation's directory as routing has it loaded now: its departments, its
    officers (names and posts: the staff's, not citizens' data) and a digest, which changes
    whenever a reload took effect (an operator compares it with the file's)."""
    who = await principal(request)
    directory = handlers_of(request).directory(who.org_id)
    raw = directory.model_dump_json().encode()
    return JSON(
        {
            "org_id": directory.org_id,
            "digest": hashlib.sha256(raw).hexdigest()[:16],
            "departments": [
                {"code": d.code, "name_th": d.name_th, "name_en": d.name_en, "head": d.head}
                for d in directory.departments
            ],
            "officers": [
                {
                    "id": o.id,
                    "name": o.name,
                    "department": o.department,
                    "role": o.role,
                    "status": o.status.value,
                    "takes_cases": o.takes_cases,
                    # Whether they are told on LINE; their LINE id stays in the directory.
                    "line_push": o.line_user_id is not None,
                }
                for o in directory.officers
            ],
            "villages": len(directory.villages),
        }
    )


def routes(issuer: Issuer | None = None) -> list[BaseRoute]:
    """The API; with the built-in issuer's /oidc routes when routing serves one."""
    return [
        *(issuer_routes(issuer) if issuer is not None else []),
        Endpoint("/v1/cases", list_cases, ["GET"], roles(*CASE_READERS)),
        Endpoint("/v1/cases/{case_id}", get_case, ["GET"], roles(*CASE_READERS)),
        Endpoint("/v1/cases/{case_id}/actions", post_action, ["POST"], roles(*CASE_WORKERS)),
        Endpoint(
            "/v1/cases/{case_id}/history/{kind}/{chunk:int}",
            get_history,
            ["GET"],
            roles(*CASE_READERS),
        ),
        Endpoint("/v1/routing/preview", preview, ["POST"], roles(*CASE_WORKERS)),
        Endpoint("/v1/directory", get_directory, ["GET"], roles(*CASE_WORKERS, Role.OPERATOR)),
    ]
