"""Intake's HTTP API: the canonical submission endpoint, one endpoint per channel,
Open311 GeoReport v2, the LINE webhook, channel statistics, the personal data of a case
(audited) and the dead letters.

Who may call what is declared with each route (`routes()`, shared/access.py). Channels
that carry their own credential (Open311's api_key, LINE's signature) are public here
and check it themselves; so is the citizens' web form. Everything staff enter on a
citizen's behalf needs an officer's token, and what a system forwards (LINE, Open311,
e-mail, Traffy, the platform's own improvement actions) a service account's.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from services.intake.channels import open311
from services.intake.channels.email import parse_email
from services.intake.channels.forms import BoxSession, Letter, Meeting, PhoneCall
from services.intake.domain.access import Reader, refusal_to_read_personal, refusal_to_see_photos
from services.intake.domain.errors import BadSignature, IntakeError, InvalidInput
from services.intake.domain.model import Submission
from services.intake.domain.rules import check_web, dedup_key, request_digest
from services.intake.handlers import IntakeHandlers, Outcome
from services.intake.settings import IntakeSettings
from shared import georeport
from shared.access import CASE_READERS, CASE_WORKERS, Endpoint, anyone, roles
from shared.auth import Forbidden, Principal, principal, require
from shared.events.cases import Channel
from shared.http import (
    JSON,
    ApiError,
    ErrorTable,
    app_state,
    fault_refusal,
    read_body,
    read_form,
    read_model,
    read_object,
    validation_error,
)
from shared.roles import Role

Handler = Callable[[Request], Awaitable[Response]]

# Channels a citizen reaches without coming to the office (the assessment asks for one).
ONLINE = frozenset({Channel.WEB, Channel.OPEN311, Channel.LINE, Channel.EMAIL})
# What staff write down for a citizen who came, called, wrote or spoke at a meeting.
STAFF_ENTERED = frozenset(
    {Channel.PHONE, Channel.LETTER, Channel.WALK_IN, Channel.SUGGESTION_BOX, Channel.MEETING}
)
# Who may enter them through POST /v1/submissions: the staff, and service accounts (a
# call-centre system, a script). The channels' own endpoints are the staff's.
CLERKS = (*CASE_WORKERS, Role.OPERATOR)


def handlers_of(request: Request) -> IntakeHandlers:
    return app_state(request, "handlers", IntakeHandlers)


def settings_of(request: Request) -> IntakeSettings:
    return app_state(request, "settings", IntakeSettings)


def _invalid_input(exc: InvalidInput) -> ApiError:
    code = "payload_too_large" if exc.status == 413 else "invalid_input"
    return ApiError(exc.status, code, str(exc), [{"field": exc.field, "message": exc.reason}])


ERRORS: ErrorTable = {
    BadSignature: (401, "bad_signature"),
    InvalidInput: _invalid_input,
    IntakeError: (422, "refused"),
    ValidationError: validation_error,
}


def _count_as(request: Request, channel: str) -> None:
    """Refusals from here on count under `channel`: a submission's channel is known only
    once the endpoint has read that far (POST /v1/submissions names it in the body)."""
    request.state.channel = channel


def count_refusal(request: Request, exc: Exception, error: ApiError) -> None:
    """Refusals by channel and reason, once the endpoint has said which channel it is.
    A bad signature is not a malformed submission: the handlers count it apart."""
    channel = getattr(request.state, "channel", None)
    if channel is None or isinstance(exc, BadSignature):
        return
    reason = "invalid_input" if isinstance(exc, InvalidInput) else error.code
    handlers_of(request).metrics.refused.labels(channel, reason).inc()


async def _submit(request: Request, sub: Submission) -> Response:
    accepted = await handlers_of(request).submit(sub)
    return JSON(
        {
            "case_id": accepted.case_id,
            "status": "received",
            "received_at": accepted.received_at,
            "duplicate": not accepted.created,
        },
        status_code=202,
    )


def _batch(outcomes: list[Outcome], **extra: Any) -> Response:
    return JSON(
        {
            **extra,
            "accepted": sum(o.refused is None for o in outcomes),
            "refused": sum(o.refused is not None for o in outcomes),
            "items": [o.view() for o in outcomes],
        },
        status_code=202,
    )


async def _of_this_org(request: Request, *allowed: Role) -> Principal:
    """The caller, if they hold one of `allowed` in this organisation; a token of another
    organisation is refused like a missing role."""
    who = await require(request, *allowed)
    if who.org_id != handlers_of(request).org_id:
        raise Forbidden(f"this intake serves {handlers_of(request).org_id}, not {who.org_id}")
    return who


async def _submitter(request: Request, channel: object) -> Principal | None:
    """Who may submit on `channel`: anyone on the web form; staff for what they take down
    on a citizen's behalf; a service account for what a system with its own credential
    (LINE, Open311, e-mail, Traffy, the platform) forwards, since here that credential
    cannot be checked. None: an anonymous caller on the web form."""
    if channel == Channel.WEB.value:
        if "authorization" not in request.headers:
            return None
        # Staff or a system re-entering a web report may say when it came and where it
        # belongs; anyone else signed in sends the web form as a citizen would.
        who = await principal(request)
        staff = who.has(*CLERKS) and who.org_id == handlers_of(request).org_id
        return who if staff else None
    if isinstance(channel, str) and channel in {c.value for c in STAFF_ENTERED}:
        return await _of_this_org(request, *CLERKS)
    # A system's channel, or no channel at all (refused once the caller is known).
    return await _of_this_org(request, Role.OPERATOR)


async def post_submission(request: Request) -> Response:
    _count_as(request, "http")
    data = await read_object(request, settings_of(request).max_body_bytes)
    # Who asks comes before what is wrong with the body: an anonymous caller learns
    # nothing about what a LINE submission must look like.
    who = await _submitter(request, data.get("channel"))
    try:
        sub = Submission.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc
    if who is None:
        check_web(sub)
    key = request.headers.get("idempotency-key", "").strip()[:200]
    if sub.channel_message_id is None and key:
        # A client retrying after a 500 or a lost answer gets the same case, not a new one.
        sub = sub.model_copy(update={"channel_message_id": f"idem-{key}"})
    _count_as(request, sub.channel.value)
    return await _submit(request, sub)


async def _record(request: Request, channel: str, model: type[PhoneCall | Letter]) -> Response:
    who = await _of_this_org(request, *CASE_WORKERS)
    _count_as(request, channel)
    data = await read_object(request, settings_of(request).max_body_bytes)
    if model is PhoneCall:
        # Who took the call, unless the record names a colleague: the one signed in.
        data.setdefault("officer_id", who.officer_id or who.subject)
    try:
        record = model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc
    return await _submit(request, record.to_submission())


async def post_phone(request: Request) -> Response:
    return await _record(request, "phone", PhoneCall)


async def post_letter(request: Request) -> Response:
    return await _record(request, "letter", Letter)


async def post_meeting(request: Request) -> Response:
    await _of_this_org(request, *CASE_WORKERS)
    _count_as(request, "meeting")
    meeting = await read_model(request, Meeting, settings_of(request).max_batch_bytes)
    outcomes = await handlers_of(request).meeting(meeting)
    return _batch(outcomes, activity_id=meeting.activity_id)


async def post_box(request: Request) -> Response:
    await _of_this_org(request, *CASE_WORKERS)
    _count_as(request, "suggestion_box")
    session, csv_text = await _box_upload(request, settings_of(request).max_batch_bytes)
    outcomes = await handlers_of(request).suggestion_box(session, csv_text)
    return _batch(outcomes, session_id=session.session_id)


async def post_email(request: Request) -> Response:
    await _of_this_org(request, Role.OPERATOR)
    _count_as(request, "email")
    if _media_type(request) != "message/rfc822":
        raise ApiError(
            415, "unsupported_media_type", "send the raw message as Content-Type: message/rfc822"
        )
    raw = await read_body(request, settings_of(request).max_body_bytes)
    return await _submit(request, parse_email(raw))


async def line_webhook(request: Request) -> Response:
    body = await read_body(request, settings_of(request).max_body_bytes)
    _count_as(request, "line")
    outcomes = await handlers_of(request).line_webhook(
        body, request.headers.get("x-line-signature"), defer_on_failure=True
    )
    # LINE only needs the 200; the outcomes are for operators and the demo.
    return JSON({"events": [o.view() for o in outcomes]})


async def channel_stats(request: Request) -> Response:
    await _of_this_org(request, *CASE_READERS)
    rows = await handlers_of(request).submissions.channel_counts()
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["channel"]] = totals.get(row["channel"], 0) + row["count"]
    channels = sorted(totals)
    online = [c for c in channels if c in ONLINE]
    return JSON(
        {
            "channels": [
                {"channel": c, "total": totals[c], "online": c in ONLINE} for c in channels
            ],
            "by_month": sorted(rows, key=lambda r: (r["month"], r["channel"], r["kind"])),
            "listening_channels": len(channels),
            "online_channels": len(online),
            # อปท. are assessed on at least three listening channels, one of them online.
            "meets_assessment": len(channels) >= 3 and bool(online),
        }
    )


async def personal(request: Request) -> Response:
    """The case's contact and the citizen's own words: for its officer, their head and the
    executives (a corruption report: the executives only); each read audited first."""
    who = await _of_this_org(request, *CASE_WORKERS)
    handlers = handlers_of(request)
    case_id = request.path_params["case_id"]
    record = await handlers.submissions.get_case(case_id)
    if record is None:
        raise ApiError(404, "not_found", f"no case {case_id}")
    refusal = refusal_to_read_personal(
        Reader(who.roles, department=who.department, officer_id=who.officer_id), record
    )
    if refusal is not None:
        raise Forbidden(refusal)
    if handlers.audit is None:
        raise ApiError(503, "audit_unavailable", "no audit trail to record this read on")
    target = f"case:{record.case_id}"
    # Recorded before the vault is opened: a read that cannot be recorded does not happen.
    await handlers.audit.record(who, request, "text.read", target)
    if record.contact_ref is not None:
        await handlers.audit.record(who, request, "contact.read", target)
    return JSON(await handlers.personal(record), headers={"Cache-Control": "no-store"})


async def line_media(request: Request) -> Response:
    """What the citizen sent on LINE (a photo, a voice message, a video, a PDF), as intake
    copied it: for the staff of the case's department and the executives; each look audited
    first. Served as a file that never runs as a page of any site."""
    who = await _of_this_org(request, *CASE_WORKERS)
    handlers = handlers_of(request)
    case_id = request.path_params["case_id"]
    message_id = request.path_params["message_id"]
    record = await handlers.submissions.get_case(case_id)
    # Only what came with this case: never a vault entry by its reference alone.
    kind = record.line_media_ids().get(message_id) if record is not None else None
    if record is None or kind is None:
        raise ApiError(404, "not_found", f"no LINE message {message_id} with case {case_id}")
    refusal = refusal_to_see_photos(Reader(who.roles, department=who.department), record)
    if refusal is not None:
        raise Forbidden(refusal)
    audit = handlers.audit
    if audit is None:
        raise ApiError(503, "audit_unavailable", "no audit trail to record this look on")

    async def look() -> None:
        # Recorded before the vault is opened: a look that cannot be recorded does not happen.
        action = "photo.read" if kind == "image" else "media.read"
        await audit.record(who, request, action, f"case:{record.case_id}", detail=kind)

    kept = await handlers.line_media(message_id, look)
    if kept is None:
        raise ApiError(
            404, "not_kept", "not copied from LINE: not yet, LINE no longer had it, or purged"
        )
    data, media_type = kept
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if not media_type.startswith(("image/", "audio/", "video/")):
        headers["Content-Disposition"] = 'attachment; filename="line-file.pdf"'
    return Response(data, media_type=media_type, headers=headers)


# Public: the citizens' form; the channels with credentials of their own below.
SUBMITTERS = "web submissions; other channels need an operator token (staff-entered: staff)"


def routes() -> list[BaseRoute]:
    return [
        Endpoint("/v1/submissions", post_submission, ["POST"], anyone(SUBMITTERS)),
        Endpoint("/v1/channels", channel_stats, ["GET"], roles(*CASE_READERS)),
        Endpoint("/v1/channels/phone", post_phone, ["POST"], roles(*CASE_WORKERS)),
        Endpoint("/v1/channels/letter", post_letter, ["POST"], roles(*CASE_WORKERS)),
        Endpoint("/v1/channels/meeting", post_meeting, ["POST"], roles(*CASE_WORKERS)),
        Endpoint("/v1/channels/suggestion-box", post_box, ["POST"], roles(*CASE_WORKERS)),
        Endpoint("/v1/channels/email", post_email, ["POST"], roles(Role.OPERATOR)),
        Endpoint(
            "/channels/line/webhook",
            line_webhook,
            ["POST"],
            anyone("LINE's signature (X-Line-Signature) over the body"),
        ),
        Endpoint("/v1/cases/{case_id}/personal", personal, ["GET"], roles(*CASE_WORKERS)),
        Endpoint(
            "/v1/cases/{case_id}/media/{message_id}", line_media, ["GET"], roles(*CASE_WORKERS)
        ),
        *open311_routes(),
    ]


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _box_upload(request: Request, max_bytes: int) -> tuple[BoxSession, str]:
    """The session's fields and the slips' CSV: text/csv with the fields in the query
    string, or multipart/form-data with the fields and a `file` part."""
    media = _media_type(request)
    if media == "text/csv":
        raw = await read_body(request, max_bytes)
        fields: dict[str, Any] = dict(request.query_params)
    elif media == "multipart/form-data":
        form = await read_form(request, max_bytes, max_files=1, max_fields=20)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput(
                "file", "attach the slips as a CSV file part named 'file'", status=400
            )
        raw = await upload.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise ApiError(413, "payload_too_large", f"file over {max_bytes} bytes")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        raise ApiError(
            415, "unsupported_media_type", "send the slips as text/csv or multipart/form-data"
        )
    session = BoxSession.model_validate(
        {k: fields.get(k) for k in ("box_id", "location", "opened_at", "committee")}
    )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("body", "the CSV must be UTF-8", status=400) from exc
    return session, text


# ---------------------------------------------------------------- Open311 GeoReport v2


def _o311(
    request: Request, status: int, description: str, headers: dict[str, str] | None = None
) -> Response:
    error = ApiError(status, "open311", description, headers=headers)
    return georeport.refusal(error, georeport.format_of(request.url.path))


def _answer(request: Request, root: str, content: Any, **kwargs: Any) -> Response:
    """`content` in the format the resource's extension names (`.xml` or `.json`)."""
    return georeport.answer(request.path_params.get("format"), root, content, **kwargs)


def _spec_errors(handler: Handler) -> Handler:
    """Every Open311 refusal in the spec's shape and in the format asked for:
    `[{"code", "description"}]`, or `<errors>` for `.xml`."""

    async def wrapped(request: Request) -> Response:
        fmt = str(request.path_params.get("format", georeport.JSON_FORMAT)).lower()
        if "format" in request.path_params:  # `.XML` is `.xml`, as format_of reads it
            request.path_params["format"] = fmt
        if fmt not in georeport.MEDIA_TYPES:
            return _o311(request, 400, f"format {fmt!r} is not supported: use .xml or .json")
        try:
            return await handler(request)
        except open311.Open311Error as exc:
            return georeport.answer(fmt, "errors", exc.body(), status_code=exc.status)
        except ApiError as exc:
            return georeport.refusal(exc, fmt)
        except Exception as exc:
            # The faults the app answers 503 (a lasting one is raised on, to be a 500).
            refusal = fault_refusal(exc)
            if refusal is None:
                raise
            return georeport.refusal(refusal, fmt)

    return wrapped


OPEN311 = "/open311/v2"
# A `media` upload is read past, not kept: the spec carries media as `media_url`.
MAX_OPEN311_FILES = 4
CHANGESET = "2026-11-27T00:00:00+07:00"


async def discovery(request: Request) -> Response:
    document = {
        "changeset": CHANGESET,
        "contact": "องค์การบริหารส่วนตำบลสระโพนทอง",
        "key_service": "ขอ api_key ได้ที่สำนักปลัด อบต.",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": str(request.base_url).rstrip("/") + OPEN311,
                "changeset": CHANGESET,
                "type": "production",
                "formats": list(georeport.MEDIA_TYPES.values()),
            }
        ],
    }
    return _answer(request, "discovery", document)


async def services(request: Request) -> Response:
    return _answer(request, "services", open311.service_list())


async def service(request: Request) -> Response:
    definition = open311.service_definition(request.path_params["service_code"])
    return _answer(request, "service_definition", definition)


async def _form(request: Request, max_bytes: int) -> tuple[list[tuple[str, str]], int]:
    """The POST's fields, and how many files came with them. Clients that build the form
    as a browser does (`FormData`, or a `media` upload) send it as multipart."""
    media_type = _media_type(request)
    if media_type == "multipart/form-data":
        try:
            form = await read_form(request, max_bytes, max_files=MAX_OPEN311_FILES)
        except ApiError as exc:
            if exc.status == 413:
                raise
            raise open311.Open311Error(exc.status, exc.message) from exc
        fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        files = sum(1 for _, v in form.multi_items() if not isinstance(v, str))
        await form.close()
        return fields, files
    if media_type != "application/x-www-form-urlencoded":
        handlers_of(request).metrics.refused.labels("open311", "media_type").inc()
        raise open311.Open311Error(
            400,
            "send the request as a form (application/x-www-form-urlencoded or multipart/form-data)",
        )
    raw = await read_body(request, max_bytes)
    try:
        text = raw.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False), 0
    except (UnicodeDecodeError, ValueError) as exc:
        raise open311.Open311Error(400, f"the form is not valid UTF-8 form data: {exc}") from exc


async def post_request(request: Request) -> Response:
    handlers, settings = handlers_of(request), settings_of(request)
    fields, files = await _form(request, settings.max_body_bytes)
    try:
        parsed = open311.parse_request(
            fields,
            api_keys=settings.api_keys,
            message_id=request.headers.get("idempotency-key") or None,
        )
        await _not_reused(request, parsed.submission)
        accepted = await handlers.submit(parsed.submission)
        if not accepted.created:
            # Two requests sent at once under one key both pass the check above; the one
            # whose case was not filed learns here, from the winner's record, what it was.
            await _not_reused(request, parsed.submission)
    except open311.Open311Error as exc:
        handlers.metrics.refused.labels("open311", str(exc.status)).inc()
        raise
    except IntakeError as exc:
        handlers.metrics.refused.labels("open311", "refused").inc()
        raise open311.Open311Error(400, str(exc)) from exc
    notice = open311.service_notice(accepted.received_at)
    if files:
        notice += open311.FILES_NOT_KEPT
    body = [
        {
            "service_request_id": accepted.case_id,
            "service_notice": notice,
            "account_id": parsed.account_id,
        }
    ]
    headers = {"Idempotent-Replayed": "true"} if not accepted.created else None
    return _answer(request, "service_requests", body, headers=headers)


async def _not_reused(request: Request, sub: Submission) -> None:
    """Refuse an Idempotency-Key its client used before for another request: answering
    the first one's id would drop this one unseen."""
    if sub.channel_message_id is None:
        return
    handlers = handlers_of(request)
    seen = await handlers.submissions.get(dedup_key(sub, handlers.clock.now()))
    if seen is not None and seen.request_digest not in (None, request_digest(sub)):
        raise open311.Open311Error(
            400, "Idempotency-Key was used before for a different request: use a new key"
        )


async def get_requests(request: Request) -> Response:
    handlers = handlers_of(request)
    query = open311.parse_query(request.query_params.multi_items(), handlers.clock.now())
    records = await handlers.submissions.find(query)
    views = [open311.request_view(r, handlers.agencies) for r in records]
    return _answer(request, "service_requests", views)


async def get_request(request: Request) -> Response:
    handlers = handlers_of(request)
    case_id = request.path_params["request_id"]
    record = await handlers.submissions.get_case(case_id)
    if record is None:
        raise open311.Open311Error(404, f"service_request_id {case_id!r} not found")
    return _answer(request, "service_requests", [open311.request_view(record, handlers.agencies)])


async def not_found(request: Request) -> Response:
    """Any other path, or a method a path has not: 404 or 405 in the spec's shape."""
    allowed: set[str] = set()
    for route in _open311_routes():
        if isinstance(route, Route) and route.path != CATCH_ALL:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE and route.methods:
                allowed |= route.methods
    if allowed:
        return _o311(
            request,
            405,
            f"method {request.method} not allowed here; allowed: {', '.join(sorted(allowed))}",
            {"Allow": ", ".join(sorted(allowed))},
        )
    return _o311(request, 404, f"no such resource: {request.url.path}")


# GeoReport v2 is a public API: its answers come from the redacted projection only.
PUBLIC_VIEW = anyone("Open311: public information, from the redacted projection only")


CATCH_ALL = f"{OPEN311}/{{rest:path}}"
# Every method a client may try: one the path has not is answered 405 in the spec's shape.
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def open311_routes() -> list[BaseRoute]:
    base = OPEN311

    def get(path: str, handler: Handler) -> Endpoint:
        wrapped = _named(_spec_errors(handler), handler.__name__)
        return Endpoint(f"{base}/{path}" if path else base, wrapped, ["GET"], PUBLIC_VIEW)

    return [
        # The base itself (a client's first guess) is the discovery document.
        get("", discovery),
        Endpoint(f"{base}/", _named(_spec_errors(discovery), "discovery"), ["GET"], PUBLIC_VIEW),
        get("discovery.{format}", discovery),
        get("services.{format}", services),
        get("services/{service_code}.{format}", service),
        get("requests.{format}", get_requests),
        Endpoint(
            f"{base}/requests.{{format}}",
            _named(_spec_errors(post_request), "post_request"),
            ["POST"],
            anyone("Open311's api_key, checked against OPEN311_API_KEYS"),
        ),
        get("requests/{request_id}.{format}", get_request),
        Endpoint(
            CATCH_ALL,
            not_found,
            ANY_METHOD,
            anyone("answers 404 (405 for a method a path has not) in Open311's shape"),
        ),
    ]


@functools.cache
def _open311_routes() -> list[BaseRoute]:
    return open311_routes()


def _named(handler: Handler, name: str) -> Handler:
    # Routes (and the README's access matrix) are named after their handler, not the
    # Open311 wrapper around it.
    handler.__name__ = name
    return handler
