"""The officers' console: server-rendered pages (Jinja2) over the services' APIs.

Every page is declared `anyone(...)` for the gateway because it checks the sign-in session
itself: the browser holds a session cookie, never a bearer token, and the page calls the
APIs with the person's own token, which each service verifies and scopes as it does for any
client. Thai only (the staff's language), Buddhist-Era dates, every page usable without
JavaScript; the script adds only the live parts (the count of new cases, the analysis'
figures).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from services.console.domain import actions as acts
from services.console.domain import queue as q
from services.console.domain.receipt import qr_svg, tracker_url
from services.console.oidc import OidcClient, SignInFailed, pkce_pair
from services.console.photos import JPEG, PDF, SCAN_PREFIX, PhotoRefused
from services.console.photos import PREFIX as PHOTO_PREFIX
from services.console.sessions import COOKIE, Pending, Session, SessionStore, Tokens, csrf_ok
from services.console.settings import ConsoleSettings
from services.console.upstream import Api, Refusal, SignInAgain
from shared.access import Endpoint, anyone
from shared.auth import Principal, TokenVerifier, Unauthorized
from shared.events.cases import LINE_CONTENT, LINE_MEDIA_KINDS
from shared.http import (
    MAX_COUNT,
    VILLAGES,
    ApiError,
    ErrorTable,
    app_state,
    int_in,
    read_form,
    retry_after,
    static_file,
)
from shared.media import KEPT_TYPES
from shared.roles import Role
from shared.taxonomy import CATEGORIES, causes_for
from shared.thai import arabic_to_thai_digits, format_thai_date, to_bangkok

log = logging.getLogger("ruam.console")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# The Sarabun font and other vendor files the public site installs (deploy/local/web_assets.py):
# served from where they are, not copied.
VENDOR = HERE.parent / "portal" / "static" / "vendor"
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ERRORS: ErrorTable = {}
# An access token this close to its expiry is renewed before it is used.
RENEW_BEFORE_SECONDS = 30
SESSION = "signed-in session; the page checks it and calls the APIs with the person's token"
SIGN_IN = "the OpenID Connect sign-in itself (state, PKCE and nonce checked on return)"
STATIC_FILES = "the console's styles, script and fonts"
# The public site's web-form photos (services/portal: its GET /v1/photos/{id}).
PORTAL_PHOTO = "portal-photo:"

STATUS_TH = {
    "received": "รับเรื่องแล้ว",
    "assigned": "มอบหมายแล้ว",
    "acknowledged": "รับทราบแล้ว",
    "in_progress": "กำลังดำเนินการ",
    "pending_citizen": "รอข้อมูลจากประชาชน",
    "resolved": "แก้ไขแล้ว",
    "closed": "ปิดเรื่อง",
    "reopened": "เปิดใหม่",
    "transferred": "โอนเรื่อง",
    "duplicate": "เรื่องซ้ำ",
    "not_our_responsibility": "ไม่อยู่ในอำนาจ",
}
CHANNEL_TH = {
    "web": "เว็บไซต์",
    "open311": "Open311",
    "line": "LINE",
    "phone": "โทรศัพท์",
    "letter": "หนังสือ",
    "suggestion_box": "ตู้รับความคิดเห็น",
    "email": "อีเมล",
    "meeting": "ประชาคม",
    "walk_in": "มาด้วยตนเอง",
    "traffy": "Traffy Fondue",
    "internal": "ระบบ",
}
KIND_TH = {
    "complaint": "ร้องเรียน/ร้องทุกข์",
    "suggestion": "ข้อเสนอแนะ",
    "opinion": "ความคิดเห็น",
    "compliment": "คำชมเชย",
    "question": "สอบถาม",
    "corruption_report": "แจ้งเบาะแสทุจริต",
}
TIMELINE_TH = {
    "receive": "รับเรื่อง",
    "assign": "มอบหมาย",
    "acknowledge": "รับทราบ",
    "start": "เริ่มดำเนินการ",
    "request_info": "ขอข้อมูลเพิ่มเติม",
    "citizen_reply": "ประชาชนตอบกลับ",
    "citizen_followup": "ประชาชนแจ้งเพิ่มเติม",
    "citizen_withdrew": "ประชาชนยกเลิกข้อความ",
    "note": "บันทึก",
    "transfer": "โอนเรื่อง",
    "recategorize": "เปลี่ยนประเภท",
    "resolve": "แจ้งผลการแก้ไข",
    "close": "ปิดเรื่อง",
    "reopen": "เปิดเรื่องใหม่",
    "mark_duplicate": "รวมเป็นเรื่องซ้ำ",
    "not_responsible": "ไม่อยู่ในอำนาจ",
    "escalate": "ยกระดับ",
    "deadline_warning": "เตือนใกล้ครบกำหนด",
    "acknowledge_overdue": "ยังไม่รับทราบตามกำหนด",
}
CATEGORY_TH = {c.code: c.label_th for c in CATEGORIES}


# --------------------------------------------------------------------------- formatting


def be_datetime(value: Any) -> str:
    moment = q.parse_time(value)
    if moment is None:
        return "–"
    local = to_bangkok(moment)
    return f"{format_thai_date(local, short=True)} {local:%H:%M} น."


def be_date(value: Any) -> str:
    moment = q.parse_time(value)
    return "–" if moment is None else format_thai_date(moment, short=True)


TEMPLATES.globals.update(
    be_datetime=be_datetime,
    be_date=be_date,
    status_th=lambda s: STATUS_TH.get(str(s), str(s)),
    channel_th=lambda c: CHANNEL_TH.get(str(c), str(c)),
    kind_th=lambda k: KIND_TH.get(str(k), str(k)),
    step_th=lambda a: TIMELINE_TH.get(str(a), str(a)),
    category_th=lambda c: CATEGORY_TH.get(str(c), str(c or "–")),
    categories=[(c.code, c.label_th) for c in CATEGORIES],
    statuses=STATUS_TH,
    channels=CHANNEL_TH,
    kinds=KIND_TH,
    thai_digits=arabic_to_thai_digits,
)


# --------------------------------------------------------------------------- the console's parts


# The organisation's departments are read from routing's directory, kept this long.
DIRECTORY_SECONDS = 60.0


@dataclass
class Console:
    """What the pages share: put on `app.state.console` by the bootstrap."""

    settings: ConsoleSettings
    sessions: SessionStore
    oidc: OidcClient
    api: Api
    now: Callable[[], datetime]
    # code -> Thai name, as routing's directory has them, and when that was read.
    _departments: dict[str, str] = field(default_factory=dict)
    _departments_at: float = -DIRECTORY_SECONDS

    async def departments(self, token: str) -> dict[str, str]:
        """The departments by code (routing's `GET /v1/directory`, for the roles that may
        read it); empty when it cannot be read, and the pages show the codes."""
        clock = self.sessions.now()
        if clock - self._departments_at >= DIRECTORY_SECONDS:
            try:
                found = await self.api.call("routing", "GET", "/v1/directory", token)
            except (Refusal, SignInAgain):
                return self._departments
            self._departments = {
                str(d["code"]): str(d["name_th"]) for d in found.get("departments", [])
            }
            self._departments_at = clock
        return self._departments


def console_of(request: Request) -> Console:
    return app_state(request, "console", Console)


@dataclass
class Ctx:
    """A signed-in request: its session, who it is and the token to call the APIs with."""

    request: Request
    session: Session
    who: Principal
    token: str
    console: Console
    departments: dict[str, str] = field(default_factory=dict)  # code -> Thai name


def _security_headers(console: Console) -> dict[str, str]:
    issuer = urlsplit(console.settings.oidc_issuer)
    provider = f"{issuer.scheme}://{issuer.netloc}"
    return {
        "Cache-Control": "no-store",  # pages carry what only this person may see
        "Content-Security-Policy": (
            f"default-src 'self'; img-src 'self' data: {console.settings.tile_origin}".rstrip()
            + "; object-src 'none'; base-uri 'none'; "
            f"frame-ancestors 'none'; form-action 'self' {provider}"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def render(
    ctx: Ctx | None, request: Request, name: str, status: int = 200, **values: Any
) -> Response:
    console = console_of(request)
    session = ctx.session if ctx else None
    flash = None
    if session is not None and session.flash:
        flash, session.flash = session.flash, None
    names = ctx.departments if ctx else {}
    html = TEMPLATES.get_template(name).render(
        departments=names,
        department_th=lambda d: names.get(str(d), str(d or "–")),
        who=ctx.who if ctx else None,
        csrf=session.csrf if session else "",
        path=request.url.path,
        flash=flash,
        role=Role,
        **values,
    )
    wait = getattr(values.get("refusal"), "retry_after", None)
    return HTMLResponse(
        html,
        status_code=status,
        headers={**_security_headers(console), **retry_after(status, wait)},
    )


def _set_cookie(response: Response, console: Console, session: Session) -> Response:
    response.set_cookie(
        COOKIE,
        console.sessions.cookie_value(session),
        httponly=True,
        samesite="lax",
        secure=console.settings.secure_cookies,
        path="/",
    )
    return response


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.url.path
    return RedirectResponse(f"/auth/login?next={quote(target, safe='')}", status_code=303)


async def _fresh(console: Console, session: Session, verifier: TokenVerifier) -> bool:
    """The session's access token good for a while yet: renewed with the refresh token when
    it is about to expire; False when it cannot be (the person signs in again)."""
    tokens = session.tokens
    if tokens is None:
        return False
    if tokens.expires_at - console.sessions.now() > RENEW_BEFORE_SECONDS:
        return True
    if tokens.refresh_token is None:
        return False
    try:
        renewed = await console.oidc.refresh(tokens.refresh_token)
        who = await verifier.verify(renewed.access_token)
    except (SignInFailed, Unauthorized, ApiError, httpx.HTTPError, OSError):
        return False
    session.tokens = Tokens(
        renewed.access_token,
        console.sessions.now() + renewed.expires_in,
        renewed.refresh_token or tokens.refresh_token,
        renewed.id_token or tokens.id_token,
    )
    session.who = who
    return True


Page = Callable[[Ctx], Awaitable[Response]]


def signed_in(page: Page, *, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A page for a signed-in person: without a session, to the sign-in; a POST without the
    session's CSRF token is refused; the APIs' refusals are shown as Thai sentences."""

    async def handler(request: Request) -> Response:
        console = console_of(request)
        session = await console.sessions.lookup(request.cookies.get(COOKIE))
        verifier = app_state(request, "verifier", TokenVerifier)
        if session is None or not session.signed_in or not await _fresh(console, session, verifier):
            if session is not None:
                session.sign_out()
                await console.sessions.keep(session)
            return _to_sign_in(request)
        try:
            return await _signed_in_page(request, console, session, page, post)
        finally:
            # What the page changed (a renewed token, a flash, a box's slips) outlives a
            # restart of the console.
            await console.sessions.keep(session)

    handler.__name__ = page.__name__
    return handler


async def _signed_in_page(
    request: Request, console: Console, session: Session, page: Page, post: bool
) -> Response:
    assert session.tokens is not None and session.who is not None
    ctx = Ctx(request, session, session.who, session.tokens.access_token, console)
    ctx.departments = await console.departments(ctx.token)
    if post:
        form = await _form(request, console.settings.max_form_bytes)
        if not csrf_ok(session, text_of(form, "csrf")):
            return render(ctx, request, "error.html", 403, refusal=CSRF_REFUSED)
        request.state.form = form
    try:
        return await page(ctx)
    except SignInAgain:
        session.sign_out()
        return _to_sign_in(request)
    except Refusal as refusal:
        return render(ctx, request, "error.html", refusal.status, refusal=refusal)


CSRF_REFUSED = Refusal(
    403,
    "แบบฟอร์มนี้หมดอายุหรือไม่ได้มาจากระบบนี้ จึงไม่ได้บันทึก",
    "กลับไปหน้าก่อนหน้า โหลดหน้าใหม่ แล้วกรอกและส่งอีกครั้ง",
)


async def _form(request: Request, max_bytes: int) -> FormData:
    return await read_form(request, max_bytes, max_files=2, max_fields=200)


def text_of(form: FormData | Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_of(ctx: Ctx) -> FormData:
    form = getattr(ctx.request.state, "form", None)
    assert isinstance(form, FormData)
    return form


# --------------------------------------------------------------------------- sign-in


def _safe_next(value: str | None) -> str:
    """Only a path of this site: an open redirect would lend the console's name to phishing."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/queue"
    return value


async def login(request: Request) -> Response:
    console = console_of(request)
    session = await console.sessions.lookup(request.cookies.get(COOKIE)) or console.sessions.new()
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair()
    next_path = _safe_next(request.query_params.get("next"))
    console.sessions.start_sign_in(
        session, state, Pending(verifier, nonce, next_path, console.sessions.now())
    )
    try:
        url = await console.oidc.authorize_url(state, nonce, challenge)
    except (SignInFailed, httpx.HTTPError, OSError, ValueError) as exc:
        return _sign_in_failed(request, f"{type(exc).__name__}")
    return _set_cookie(RedirectResponse(url, status_code=303), console, session)


def _sign_in_failed(request: Request, detail: str) -> Response:
    refusal = Refusal(
        503,
        "เข้าสู่ระบบไม่สำเร็จ",
        "ลองเข้าสู่ระบบอีกครั้ง ถ้ายังไม่ได้ให้แจ้งผู้ดูแลระบบ",
        detail,
    )
    return render(None, request, "error.html", 400, refusal=refusal, sign_in_again=True)


async def callback(request: Request) -> Response:
    console = console_of(request)
    params = request.query_params
    session = await console.sessions.lookup(request.cookies.get(COOKIE))
    pending = console.sessions.take_pending(session, params.get("state", "")) if session else None
    if session is None or pending is None:
        return _sign_in_failed(request, "unknown or used sign-in state")
    if params.get("error"):
        return _sign_in_failed(request, params.get("error", ""))
    issuer = params.get("iss")
    if issuer is not None and issuer != console.oidc.issuer:  # RFC 9207: mix-up defence
        return _sign_in_failed(request, "the answer names another issuer")
    verifier = app_state(request, "verifier", TokenVerifier)
    try:
        tokens = await console.oidc.exchange(
            params.get("code", ""), pending.verifier, pending.nonce
        )
        who = await verifier.verify(tokens.access_token)
    except (SignInFailed, Unauthorized, ApiError, httpx.HTTPError, OSError) as exc:
        return _sign_in_failed(request, str(exc)[:200])
    session.tokens = Tokens(
        tokens.access_token,
        console.sessions.now() + tokens.expires_in,
        tokens.refresh_token,
        tokens.id_token,
    )
    session.who = who
    fresh = console.sessions.renew(session)
    await console.sessions.forget(session)  # the id before the sign-in, wherever kept
    await console.sessions.keep(fresh)
    response = RedirectResponse(pending.next_path, status_code=303)
    return _set_cookie(response, console, fresh)


async def logout(request: Request) -> Response:
    console = console_of(request)
    session = await console.sessions.lookup(request.cookies.get(COOKIE))
    form = await _form(request, 10_000)
    if session is None:
        return RedirectResponse("/signed-out", status_code=303)
    if not csrf_ok(session, text_of(form, "csrf")):
        return render(None, request, "error.html", 403, refusal=CSRF_REFUSED)
    id_token = session.tokens.id_token if session.tokens else None
    await console.sessions.forget(session)
    after = f"{console.settings.base_url}/signed-out"
    try:
        target = await console.oidc.end_session_url(id_token, after) or "/signed-out"
    except (SignInFailed, httpx.HTTPError, OSError, ValueError):
        target = "/signed-out"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def signed_out(request: Request) -> Response:
    return render(None, request, "signed_out.html")


async def home(request: Request) -> Response:
    console = console_of(request)
    session = await console.sessions.lookup(request.cookies.get(COOKIE))
    if session is None or session.who is None:
        return RedirectResponse("/auth/login", status_code=303)
    return RedirectResponse(home_of(session.who), status_code=303)


def home_of(who: Principal) -> str:
    """Where a role's day starts."""
    if who.has(Role.OFFICER, Role.HEAD, Role.EXECUTIVE):
        return "/queue"
    if who.has(Role.PLANNER):
        return "/projects"
    if who.has(Role.OPERATOR, Role.AUDITOR):
        return "/operator"
    return "/me"


# --------------------------------------------------------------------------- the queue


def _scope(who: Principal, mine: bool) -> dict[str, str]:
    """What routing is asked for: an officer's own cases; a head's department (or their
    own); an executive every case."""
    if who.has(Role.EXECUTIVE):
        return {"officer_id": who.officer_id or ""} if mine else {}
    if who.has(Role.HEAD) and not mine:
        return {"department": who.department or ""}
    return {"officer_id": who.officer_id or who.subject}


async def queue_rows(ctx: Ctx, filters: Mapping[str, str], mine: bool) -> list[dict[str, Any]]:
    """The cases of the queue from routing's summaries, in one request: the status asked
    for, or every state in which the citizen is still owed an answer."""
    base = {
        **_scope(ctx.who, mine),
        "view": "summary",
        "limit": str(ctx.console.settings.queue_limit),
        "total": "false",  # the queue counts its own rows; the index is not read twice
    }
    for name in ("category", "channel", "village_no", "department"):
        if filters.get(name):
            base[name] = filters[name]
    base["status"] = filters.get("status") or ",".join(q.ACTIVE_STATUSES)
    page = await ctx.console.api.call("routing", "GET", "/v1/cases", ctx.token, params=base)
    return list(page.get("items", []))


async def queue(ctx: Ctx) -> Response:
    if not ctx.who.has(Role.OFFICER, Role.HEAD, Role.EXECUTIVE):
        return RedirectResponse(home_of(ctx.who), status_code=303)
    params = ctx.request.query_params
    filters = {k: params.get(k, "") for k in ("status", "category", "village_no", "channel")}
    village = int_in(filters["village_no"], *VILLAGES)
    filters["village_no"] = "" if village is None else str(village)
    mine = params.get("mine") == "1" or (ctx.who.has(Role.OFFICER) and not ctx.who.has(Role.HEAD))
    now = ctx.console.now()
    visits = ctx.console.sessions.last_visits
    last = visits.get(ctx.who.subject)
    rows = q.order(
        await queue_rows(ctx, filters, mine),
        now,
        datetime.fromtimestamp(last, UTC) if last is not None else None,
    )
    visits[ctx.who.subject] = now.timestamp()
    return render(
        ctx,
        ctx.request,
        "queue.html",
        rows=rows,
        counts=q.counts(rows),
        filters=filters,
        mine=mine,
        last_visit=datetime.fromtimestamp(last, UTC) if last is not None else None,
        bands=[q.OVERDUE, q.TODAY, q.WEEK, q.LATER, q.PAUSED],
        since=now.isoformat(),
    )


async def queue_updates(ctx: Ctx) -> Response:
    """The live part of the queue (polled by console.js): new cases since the page was shown
    and escalations, as a small HTML fragment for a live region."""
    since = q.parse_time(ctx.request.query_params.get("since"))
    if not ctx.who.has(Role.OFFICER, Role.HEAD, Role.EXECUTIVE) or since is None:
        return render(ctx, ctx.request, "updates.html", new=0, escalated=0)
    rows = await queue_rows(ctx, {}, ctx.who.has(Role.OFFICER) and not ctx.who.has(Role.HEAD))
    new = sum(1 for r in rows if (q.parse_time(r.get("received_at")) or since) > since)
    escalated = sum(1 for r in rows if (r.get("escalation_level") or 0) > 0)
    return render(ctx, ctx.request, "updates.html", new=new, escalated=escalated)


# --------------------------------------------------------------------------- a case


async def _case(ctx: Ctx, case_id: str) -> dict[str, Any]:
    body = await ctx.console.api.call(
        "routing", "GET", f"/v1/cases/{quote(case_id, safe='')}", ctx.token
    )
    assert isinstance(body, dict)
    return body


async def case_page(ctx: Ctx, *, refusal: Refusal | None = None, status: int = 200) -> Response:
    case_id = ctx.request.path_params["case_id"]
    case = await _case(ctx, case_id)
    duplicate = None
    if case.get("likely_duplicate_of"):
        try:
            duplicate = await _case(ctx, str(case["likely_duplicate_of"]))
        except Refusal:
            duplicate = None  # the other case is not this person's to see
    personal = None
    if ctx.request.query_params.get("personal") == "1":
        # A read of the vault: intake records it on the audit trail before answering.
        personal = await ctx.console.api.call(
            "intake", "GET", f"/v1/cases/{quote(case_id, safe='')}/personal", ctx.token
        )
    surveys: list[dict[str, Any]] = []
    if case.get("status") in ("resolved", "closed"):
        try:
            found = await ctx.console.api.call(
                "survey", "GET", "/v1/surveys", ctx.token, params={"case_id": case_id}
            )
            surveys = list(found.get("items", [])) if isinstance(found, dict) else []
        except Refusal:
            surveys = []
    offered = acts.allowed(ctx.who, case)
    officers: list[dict[str, Any]] = []
    if any(a.name == "reassign" for a in offered):
        # The choices of a reassignment: the department's other active officers, as routing
        # has its directory loaded.
        directory = await ctx.console.api.call("routing", "GET", "/v1/directory", ctx.token)
        current = (case.get("officer") or {}).get("id")
        officers = [
            o
            for o in directory.get("officers", [])
            if o.get("department") == case.get("department")
            and o.get("status") == "active"
            and o.get("id") != current
        ]
    return render(
        ctx,
        ctx.request,
        "case.html",
        status,
        case=case,
        duplicate=duplicate,
        personal=personal,
        surveys=surveys,
        actions=offered,
        merge=duplicate is not None and acts.may_merge(ctx.who, case),
        effect=lambda a: acts.deadline_effect(a, case, be_datetime),
        refusal=refusal,
        officers=officers,
        command_id=uuid.uuid4().hex,
        band=q.band_of(case, ctx.console.now()),
        timeline=list(reversed(case.get("timeline") or [])),
        attachments=attachment_view(case),
        causes=causes_for(case.get("category")),
        map_json=_map_json(ctx.console.settings, case),
        tiles=bool(ctx.console.settings.tile_url),
    )


def _map_json(settings: ConsoleSettings, case: Mapping[str, Any]) -> Markup | None:
    """The case's point for its map (console.js draws it with Leaflet), as a JSON block;
    None without a location. `<` is escaped: the block sits in a page."""
    where = case.get("location") or {}
    if where.get("lat") is None or where.get("lon") is None:
        return None
    data = {
        "lat": where["lat"],
        "lon": where["lon"],
        "exact": bool(where.get("exact")),
        "tiles": settings.tile_url,
        "attribution": settings.tile_attribution,
    }
    return Markup(json.dumps(data, ensure_ascii=False).replace("<", "\\u003c"))


async def case_get(ctx: Ctx) -> Response:
    return await case_page(ctx)


async def case_action(ctx: Ctx) -> Response:
    form = form_of(ctx)
    case_id = ctx.request.path_params["case_id"]
    action = text_of(form, "action")
    if action not in acts.BY_NAME and action != acts.MERGE:
        raise Refusal(400, "ไม่รู้จักการดำเนินการนี้", "กลับไปที่หน้าเรื่องแล้วเลือกใหม่")
    params: dict[str, str] = {}
    spec = acts.BY_NAME.get(action)
    for name in spec.fields if spec else ("duplicate_of",):
        if name != "photo" and text_of(form, name):
            params[name] = text_of(form, name)
    missing = [n for n in (spec.required if spec else ("duplicate_of",)) if n not in params]
    if missing:
        refusal = Refusal(422, "ข้อมูลที่กรอกยังไม่ครบ", "กรอกช่องที่จำเป็นแล้วกดส่งอีกครั้ง", ", ".join(missing))
        return await case_page(ctx, refusal=refusal, status=422)
    if action == "request_info" and "question" in params:
        params["note"] = params["question"]
    photo = form.get("photo")
    if action == "resolve" and isinstance(photo, UploadFile) and photo.filename:
        params["after_photo_ref"] = await _keep_photo(ctx, case_id, photo)
    body = {"action": action, "params": params, "command_id": text_of(form, "command_id") or None}
    try:
        await ctx.console.api.call(
            "routing",
            "POST",
            f"/v1/cases/{quote(case_id, safe='')}/actions",
            ctx.token,
            json=body,
        )
    except Refusal as refusal:
        return await case_page(ctx, refusal=refusal, status=refusal.status)
    ctx.session.flash = f"บันทึกแล้ว: {acts.BY_NAME[action].label if spec else 'รวมเป็นเรื่องซ้ำ'}"
    return RedirectResponse(f"/cases/{quote(case_id, safe='')}", status_code=303)


async def _keep_photo(ctx: Ctx, case_id: str, photo: UploadFile) -> str:
    """The after-photo, kept by the console's photo store; its reference goes on the case."""
    store = getattr(ctx.request.app.state, "photos", None)
    data = await photo.read(ctx.console.settings.max_upload_bytes + 1)
    if store is None:
        raise Refusal(503, "ยังเก็บรูปภาพไม่ได้", "แจ้งผลโดยไม่แนบรูป แล้วแจ้งผู้ดูแลระบบ")
    if len(data) > ctx.console.settings.max_upload_bytes:
        raise Refusal(413, "รูปภาพใหญ่เกินไป", "ย่อรูปให้ไม่เกิน 5 MB แล้วส่งอีกครั้ง")
    # Read first with the person's token: a photo is kept only for a case they may see.
    await _case(ctx, case_id)
    try:
        ref: str = await store.keep(case_id, data)
    except PhotoRefused as exc:
        raise Refusal(
            422, "ไฟล์ที่แนบไม่ใช่รูปภาพที่อ่านได้", "แนบรูป JPEG หรือ PNG แล้วส่งอีกครั้ง", str(exc)
        ) from exc
    except OSError as exc:  # the database, unreachable
        raise Refusal(503, "ยังเก็บรูปภาพไม่ได้ชั่วคราว", "รอสักครู่แล้วส่งอีกครั้ง") from exc
    return ref


async def _keep_scan(ctx: Ctx, scan: UploadFile) -> str:
    """A letter's scan, kept by the console's file store before intake numbers the letter."""
    store = getattr(ctx.request.app.state, "photos", None)
    limit = ctx.console.settings.max_scan_bytes
    data = await scan.read(limit + 1)
    if store is None:
        raise Refusal(503, "ยังเก็บไฟล์สแกนไม่ได้", "บันทึกโดยไม่แนบไฟล์ แล้วแจ้งผู้ดูแลระบบ")
    if len(data) > limit:
        raise Refusal(
            413,
            f"ไฟล์สแกนใหญ่เกินไป (ไม่เกิน {limit / 1_000_000:.0f} MB)",
            "สแกนใหม่ด้วยความละเอียดต่ำลง หรือแยกเป็นหลายไฟล์ แล้วส่งอีกครั้ง",
        )
    try:
        ref: str = await store.keep_scan(data)
    except PhotoRefused as exc:
        raise Refusal(
            422,
            "ไฟล์สแกนต้องเป็นรูปภาพ (JPEG หรือ PNG) หรือไฟล์ PDF",
            "เลือกไฟล์สแกนของหนังสือที่เป็นรูปภาพหรือ PDF แล้วส่งอีกครั้ง",
            str(exc),
        ) from exc
    except OSError as exc:  # the database, unreachable
        raise Refusal(503, "ยังเก็บไฟล์สแกนไม่ได้ชั่วคราว", "รอสักครู่แล้วส่งอีกครั้ง") from exc
    return ref


async def photo(ctx: Ctx) -> Response:
    store = getattr(ctx.request.app.state, "photos", None)
    photo_id = ctx.request.path_params["photo_id"]
    if store is None:
        raise Refusal(404, "ไม่พบรูปภาพ", "")
    found = await store.get(photo_id)
    if found is None:
        raise Refusal(404, "ไม่พบรูปภาพ", "")
    if found.case_id is None:  # a scan whose letter never became a case
        raise Refusal(404, "ไม่พบรูปภาพ", "")
    # Shown only to whom routing shows the case: the case is read with the person's token.
    await _case(ctx, found.case_id)
    await _record_look(ctx, found.case_id, f"photo {photo_id}")
    return _file(found.data, found.media_type)


def _file(data: bytes, media_type: str) -> Response:
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        # A file is never a page of this site: no script of it runs with the console's origin.
        # Opened on its own, a photo, a voice message or a video is shown by the browser's
        # own viewer, which loads it again from here.
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
    }
    if media_type == PDF:
        headers["Content-Disposition"] = 'attachment; filename="file.pdf"'
    return Response(data, media_type=media_type, headers=headers)


def attachment_view(case: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the citizen sent, as the case page shows it: the console's own files, the
    public site's photos and what intake copied from LINE (photos, voice messages, videos,
    PDFs) through `/cases/{id}/attachments/{n}`, a link as a link, and what stays with its
    channel (a LINE sticker's or location's, an e-mail's part) named only."""
    out: list[dict[str, Any]] = []
    case_id = quote(str(case.get("case_id")), safe="")
    for n, a in enumerate(case.get("attachments") or []):
        kind, ref = str(a.get("kind")), str(a.get("ref"))
        item: dict[str, Any] = {"n": n + 1, "kind": kind, "ref": ref, "href": None}
        if ref.startswith((PHOTO_PREFIX, SCAN_PREFIX, PORTAL_PHOTO)):
            item["href"] = f"/cases/{case_id}/attachments/{n}"
            item["image"] = kind == "image" or ref.startswith((PHOTO_PREFIX, PORTAL_PHOTO))
            item["scan"] = ref.startswith(SCAN_PREFIX)
        elif kind == "link" and ref.startswith(("https://", "http://")):
            item["link"] = ref
        elif kind in LINE_MEDIA_KINDS and ref.startswith(LINE_CONTENT):
            # Intake keeps a copy: a photo shown, a voice message or a video played, a PDF
            # opened (a file of another format stays with LINE; its link then says so).
            item["href"] = f"/cases/{case_id}/attachments/{n}"
            item["image"] = kind == "image"
            item["scan"] = False
            item["play"] = kind if kind in ("audio", "video") else None
            item["file"] = kind == "document"
        elif ref.startswith("line:"):
            item["where"] = "ส่งทาง LINE: เปิดดูได้ในบัญชี LINE Official Account ของ อบต."
        else:
            item["where"] = "แนบมากับอีเมลหรือช่องทางเดิม: เปิดดูได้จากระบบของช่องทางนั้น"
        out.append(item)
    return out


async def attachment(ctx: Ctx) -> Response:
    """One thing the citizen sent, served only when routing shows it to this person on the
    case (`attachments` is empty for whom it is not): never by its reference alone."""
    case_id = ctx.request.path_params["case_id"]
    case = await _case(ctx, case_id)
    found = case.get("attachments") or []
    n = int(ctx.request.path_params["n"])
    if not 0 <= n < len(found):
        raise Refusal(404, "ไม่พบไฟล์แนบนี้", "กลับไปที่หน้าเรื่อง")
    ref = str(found[n].get("ref"))
    if ref.startswith(PORTAL_PHOTO):
        # The public site keeps web-form photos; it checks the token again and records the look.
        data, media_type = await ctx.console.api.raw(
            "portal", f"/v1/photos/{quote(ref.removeprefix(PORTAL_PHOTO), safe='')}", ctx.token
        )
        return _file(data, media_type if media_type.startswith("image/") else JPEG)
    if ref.startswith(LINE_CONTENT) and found[n].get("kind") in LINE_MEDIA_KINDS:
        # Intake keeps it; it checks the token again and records the look.
        path = (
            f"/v1/cases/{quote(str(case.get('case_id')), safe='')}/media/"
            f"{quote(ref.removeprefix(LINE_CONTENT), safe='')}"
        )
        data, media_type = await ctx.console.api.raw("intake", path, ctx.token)
        media_type = media_type.split(";")[0].strip().lower()
        if media_type not in KEPT_TYPES:  # never a page, a script or an SVG
            raise Refusal(404, "ไม่พบไฟล์แนบนี้", "กลับไปที่หน้าเรื่อง")
        return _file(data, media_type)
    store = getattr(ctx.request.app.state, "photos", None)
    kept = None
    if store is not None and ref.startswith((PHOTO_PREFIX, SCAN_PREFIX)):
        kept = await store.get(ref.removeprefix(PHOTO_PREFIX).removeprefix(SCAN_PREFIX))
    # A file kept for another case is not this one's, whatever reference a submission named.
    if kept is None or kept.case_id not in (None, case.get("case_id")):
        raise Refusal(404, "ไม่พบไฟล์แนบนี้", "ไฟล์อาจถูกลบตามระยะเวลาการเก็บแล้ว")
    kind = "scan" if ref.startswith(SCAN_PREFIX) else "photo"
    await _record_look(ctx, str(case.get("case_id")), f"attachment {n + 1} ({kind}) {ref}")
    return _file(kept.data, kept.media_type)


FILE_READ = "file.read"
UNRECORDED = Refusal(
    503,
    "ยังเปิดไฟล์นี้ไม่ได้ เพราะระบบบันทึกการเข้าดูข้อมูลส่วนบุคคลไม่ว่างชั่วคราว",
    "รอสักครู่แล้วเปิดอีกครั้ง ถ้ายังไม่ได้ให้แจ้งผู้ดูแลระบบ",
)


async def _record_look(ctx: Ctx, case_id: str, which: str) -> None:
    """A look at a citizen's photo, a letter's scan or an after-photo goes on the audit trail
    before the file is served (PDPA: who saw whose data): who, which case, which file, never
    the file. A trail that cannot be written now means the file is not shown."""
    trail = getattr(ctx.request.app.state, "audit", None)
    if trail is None:
        # Only a dev console with no bus principal (deploy/local: the console has none yet);
        # the bootstrap builds a trail everywhere else.
        log.warning("file look on case %s not audited: this console has no audit trail", case_id)
        return
    try:
        await trail.record(ctx.who, ctx.request, FILE_READ, f"case:{case_id}", detail=which)
    except ApiError as exc:
        raise UNRECORDED from exc


# --------------------------------------------------------------------------- intake


INTAKE_FORMS = {
    "phone": "รับเรื่องทางโทรศัพท์",
    "walk-in": "ประชาชนมาติดต่อด้วยตนเอง",
    "letter": "หนังสือร้องเรียน",
    "box": "เปิดตู้รับความคิดเห็น",
    "meeting": "บันทึกการประชุมประชาคม",
}


def _local_now(ctx: Ctx) -> str:
    return f"{to_bangkok(ctx.console.now()):%Y-%m-%dT%H:%M}"


def _bangkok(value: str, now: str) -> str:
    """A datetime-local or date field, read as Bangkok time. A date alone means the office's
    opening hour that day, but never later than now: a letter taken in today before nine
    (or past midnight) must not read as received in the future."""
    if not value:
        return ""
    text = value if "T" in value else f"{value}T09:00"
    if len(value) == 10 and value == now[:10]:
        text = min(text, now)
    return f"{text}:00+07:00" if len(text) == 16 else text


def _village(form: FormData) -> dict[str, int] | None:
    village = int_in(text_of(form, "village_no"), *VILLAGES)
    return None if village is None else {"village_no": village}


async def intake_menu(ctx: Ctx) -> Response:
    return render(ctx, ctx.request, "intake_menu.html", forms=INTAKE_FORMS)


async def intake_form(ctx: Ctx) -> Response:
    kind = ctx.request.path_params["form"]
    if kind not in INTAKE_FORMS:
        raise Refusal(404, "ไม่พบแบบฟอร์มนี้", "เลือกแบบฟอร์มจากเมนูรับเรื่อง")
    return render(
        ctx,
        ctx.request,
        f"intake_{kind.replace('-', '_')}.html",
        title=INTAKE_FORMS[kind],
        values={},
        max_scan_mb=ctx.console.settings.max_scan_bytes // 1_000_000,
        now=_local_now(ctx),
        key=uuid.uuid4().hex,
        box=ctx.session.box if kind == "box" else None,
    )


async def intake_post(ctx: Ctx) -> Response:
    kind = ctx.request.path_params["form"]
    if kind not in INTAKE_FORMS:
        raise Refusal(404, "ไม่พบแบบฟอร์มนี้", "เลือกแบบฟอร์มจากเมนูรับเรื่อง")
    form = form_of(ctx)
    try:
        if kind == "box":
            return await _box_step(ctx, form)
        cases = await _submit(ctx, kind, form)
    except Refusal as refusal:
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        return render(
            ctx,
            ctx.request,
            f"intake_{kind.replace('-', '_')}.html",
            refusal.status,
            title=INTAKE_FORMS[kind],
            values=values,
            max_scan_mb=ctx.console.settings.max_scan_bytes // 1_000_000,
            now=_local_now(ctx),
            key=text_of(form, "key") or uuid.uuid4().hex,
            refusal=refusal,
            box=ctx.session.box,
        )
    return RedirectResponse("/receipt?" + "&".join(f"case={quote(c)}" for c in cases), 303)


async def _submit(ctx: Ctx, kind: str, form: FormData) -> list[str]:
    api, token = ctx.console.api, ctx.token
    consent = text_of(form, "wants_contact") == "yes"
    key = {"Idempotency-Key": text_of(form, "key")} if text_of(form, "key") else {}
    if kind == "phone":
        body: dict[str, Any] = {
            "call_id": f"console-{text_of(form, 'key')}" if text_of(form, "key") else None,
            "caller_name": text_of(form, "caller_name") or None,
            "caller_number": text_of(form, "caller_number") or None,
            "call_time": _bangkok(text_of(form, "call_time"), _local_now(ctx)) or None,
            "summary": text_of(form, "summary"),
            "kind": text_of(form, "kind") or "complaint",
            "service_code": text_of(form, "category") or None,
            "location": _village(form),
            "wants_contact": consent,
        }
        found = await api.call("intake", "POST", "/v1/channels/phone", token, json=body)
        return [str(found["case_id"])]
    if kind == "walk-in":
        contact = {
            "name": text_of(form, "name") or None,
            "phone": text_of(form, "phone") or None,
        }
        body = {
            "channel": "walk_in",
            "kind": text_of(form, "kind") or "complaint",
            "text": text_of(form, "text"),
            "contact": contact if any(contact.values()) else None,
            "location": _village(form),
            "service_code": text_of(form, "category") or None,
            "wants_contact": consent,
            "links": {"taken_by": ctx.who.officer_id or ctx.who.subject},
        }
        found = await api.call("intake", "POST", "/v1/submissions", token, json=body, headers=key)
        return [str(found["case_id"])]
    if kind == "letter":
        scan = form.get("scan")
        scan_ref = text_of(form, "scan_ref") or None
        if isinstance(scan, UploadFile) and scan.filename:
            # The scan itself, kept like an after-photo; the case refers to it.
            scan_ref = await _keep_scan(ctx, scan)
        body = {
            "registration_no": text_of(form, "registration_no"),
            "received_date": _bangkok(text_of(form, "received_date"), _local_now(ctx)) or None,
            "sender_name": text_of(form, "sender_name") or None,
            "sender_address": text_of(form, "sender_address") or None,
            "scan_ref": scan_ref,
            "text": text_of(form, "text"),
            "kind": text_of(form, "kind") or "complaint",
            "service_code": text_of(form, "category") or None,
            "wants_contact": consent,
        }
        found = await api.call("intake", "POST", "/v1/channels/letter", token, json=body)
        if scan_ref and scan_ref.startswith(SCAN_PREFIX):
            with contextlib.suppress(OSError):  # the case refers to it either way
                await ctx.request.app.state.photos.link(scan_ref, str(found["case_id"]))
        return [str(found["case_id"])]
    # a public meeting: one opinion a line
    lines = [line.strip() for line in text_of(form, "opinions").splitlines() if line.strip()]
    attendees = {}
    for group in ("ประชาชน", "ผู้นำชุมชน", "เจ้าหน้าที่"):
        count = int_in(text_of(form, f"attendees_{group}"), 0, MAX_COUNT)
        if count is not None:
            attendees[group] = count
    village = _village(form)
    body = {
        "activity_id": text_of(form, "activity_id"),
        "title": text_of(form, "title"),
        "held_at": _bangkok(text_of(form, "held_at"), _local_now(ctx)) or None,
        "place": text_of(form, "place") or None,
        "village_no": village["village_no"] if village else None,
        "attendees": attendees,
        "opinions": [{"no": i + 1, "text": t, "kind": "opinion"} for i, t in enumerate(lines)],
    }
    found = await api.call("intake", "POST", "/v1/channels/meeting", token, json=body)
    return _accepted(found)


def _accepted(found: Any) -> list[str]:
    items = found.get("items", []) if isinstance(found, dict) else []
    cases = [str(i["case_id"]) for i in items if isinstance(i, dict) and i.get("case_id")]
    if not cases:
        refused = [str(i.get("refused") or "") for i in items if isinstance(i, dict)]
        raise Refusal(422, "ไม่มีรายการใดถูกรับเป็นเรื่อง", "ตรวจสอบข้อความแล้วส่งอีกครั้ง", "; ".join(refused))
    return cases


async def _box_step(ctx: Ctx, form: FormData) -> Response:
    """A suggestion-box opening, slip by slip: the session is kept with the sign-in, the
    count shown after each slip, and the whole batch sent to intake at the end."""
    box: dict[str, Any] | None = ctx.session.box
    step = text_of(form, "step")
    if step == "open":
        missing = [
            n for n in ("box_id", "location", "opened_at", "committee") if not text_of(form, n)
        ]
        if missing:
            raise Refusal(
                422, "ข้อมูลการเปิดตู้ยังไม่ครบ", "กรอกช่องที่จำเป็นแล้วกดเริ่มอีกครั้ง", ", ".join(missing)
            )
        box = {
            "box_id": text_of(form, "box_id"),
            "location": text_of(form, "location"),
            "opened_at": _bangkok(text_of(form, "opened_at"), _local_now(ctx)),
            "committee": text_of(form, "committee"),
            "slips": [],
        }
    elif box is None:
        raise Refusal(409, "ยังไม่ได้เริ่มการเปิดตู้", "กรอกข้อมูลการเปิดตู้ก่อน แล้วจึงเพิ่มใบความคิดเห็น")
    elif step == "slip":
        text = text_of(form, "text")
        if not text:
            raise Refusal(422, "ใบความคิดเห็นยังไม่มีข้อความ", "พิมพ์ข้อความตามใบแล้วกดเพิ่มอีกครั้ง", "text")
        box["slips"].append(
            {
                "text": text,
                "kind": text_of(form, "kind") or "complaint",
                "village_no": text_of(form, "village_no"),
                "name": text_of(form, "name"),
                "phone": text_of(form, "phone"),
                "wants_contact": "1" if text_of(form, "wants_contact") == "yes" else "",
            }
        )
    elif step == "send":
        cases = await _send_box(ctx, box)
        ctx.session.box = None
        return RedirectResponse("/receipt?" + "&".join(f"case={quote(c)}" for c in cases), 303)
    elif step == "cancel":
        box = None
    ctx.session.box = box
    return RedirectResponse("/intake/box", status_code=303)


async def _send_box(ctx: Ctx, box: dict[str, Any]) -> list[str]:
    if not box["slips"]:
        raise Refusal(422, "ยังไม่มีใบความคิดเห็น", "เพิ่มใบความคิดเห็นอย่างน้อยหนึ่งใบก่อนส่ง")
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["slip_no", "text", "kind", "village_no", "name", "phone", "wants_contact"]
    writer.writerow(columns)
    for n, slip in enumerate(box["slips"], start=1):
        writer.writerow([n, *(slip[c] for c in columns[1:])])
    fields = {k: box[k] for k in ("box_id", "location", "opened_at", "committee")}
    found = await ctx.console.api.call(
        "intake",
        "POST",
        "/v1/channels/suggestion-box",
        ctx.token,
        data=fields,
        files={"file": ("slips.csv", out.getvalue().encode("utf-8"), "text/csv")},
    )
    return _accepted(found)


async def receipt(ctx: Ctx) -> Response:
    cases = [c for c in ctx.request.query_params.getlist("case") if c][:200]
    base = ctx.console.settings.tracker_base
    items = [(c, tracker_url(base, c), Markup(qr_svg(tracker_url(base, c)))) for c in cases]
    return render(ctx, ctx.request, "receipt.html", items=items, printed=ctx.console.now())


# --------------------------------------------------------------------------- other roles


async def me(ctx: Ctx) -> Response:
    return render(ctx, ctx.request, "me.html")


# --------------------------------------------------------------------------- static


async def static(request: Request) -> Response:
    return static_file(
        STATIC, request.path_params["path"], max_age=3_600, beside={"vendor/": VENDOR}
    )


NO_SUCH_PAGE = Refusal(404, "ไม่พบหน้านี้", "ตรวจสอบที่อยู่ของหน้าอีกครั้ง หรือกลับไปที่งานของฉัน")
NOT_THIS_WAY = Refusal(405, "เปิดหน้านี้ด้วยวิธีนี้ไม่ได้", "กลับไปที่งานของฉัน แล้วเลือกจากเมนู")


def missing_page(request: Request, error: ApiError) -> Response | None:
    """A mistyped address, or a form's address opened as a link: a Thai page, not JSON."""
    refusal = {404: NO_SUCH_PAGE, 405: NOT_THIS_WAY}.get(error.status)
    if refusal is None:
        return None
    return render(None, request, "error.html", error.status, refusal=refusal)


def routes() -> list[BaseRoute]:
    from services.console import analysis, views  # the other pages, built on this module

    session = anyone(SESSION)

    def page(path: str, handler: Page, methods: tuple[str, ...] = ("GET",)) -> Endpoint:
        return Endpoint(path, signed_in(handler, post="POST" in methods), list(methods), session)

    return [
        Endpoint("/", home, ["GET"], session),
        Endpoint("/auth/login", login, ["GET"], anyone(SIGN_IN)),
        Endpoint("/auth/callback", callback, ["GET"], anyone(SIGN_IN)),
        Endpoint("/auth/logout", logout, ["POST"], anyone(SIGN_IN)),
        Endpoint("/signed-out", signed_out, ["GET"], anyone(SIGN_IN)),
        page("/me", me),
        page("/queue", queue),
        page("/queue/updates", queue_updates),
        page("/cases/{case_id}", case_get),
        page("/cases/{case_id}/actions", case_action, ("POST",)),
        page("/photos/{photo_id}", photo),
        page("/cases/{case_id}/attachments/{n:int}", attachment),
        page("/intake", intake_menu),
        page("/intake/{form}", intake_form),
        page("/intake/{form}", intake_post, ("POST",)),
        page("/receipt", receipt),
        page("/department", views.department),
        page("/executive", views.executive),
        page("/projects", views.projects),
        page("/projects", views.project_new, ("POST",)),
        page("/projects/{project_id}", views.project_get),
        page("/projects/{project_id}", views.project_post, ("POST",)),
        page("/analysis", analysis.analysis),
        page("/analysis/updates", analysis.updates),
        page("/analysis/consultations", analysis.consultation_post, ("POST",)),
        page("/analysis/findings", analysis.finding_post, ("POST",)),
        page("/analysis/actions", analysis.action_post, ("POST",)),
        page("/analysis/actions/{action_id}/followups", analysis.followup_post, ("POST",)),
        page("/operator", views.operator),
        page("/operator/{service}/{letter_id}", views.letter),
        page("/operator/{service}/{letter_id}/replay", views.replay, ("POST",)),
        Endpoint("/static/{path:path}", static, ["GET"], anyone(STATIC_FILES)),
    ]
