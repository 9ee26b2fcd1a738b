"""The built-in issuer over HTTP: discovery, JWKS, the authorization endpoint (a Thai sign-in
form, for the officers' console) and the RFC 6749 token endpoint, under /oidc.

The token endpoint answers in OAuth 2.0's own terms (form-encoded requests, `{"error": ...}`
refusals, no caching) rather than the services' ApiError shape, so that any OAuth client
library can sign in with it.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from services.routing.identity import (
    PATH,
    AuthorizeError,
    AuthorizeRequest,
    Issuer,
    TokenError,
)
from shared.access import Endpoint, anyone
from shared.http import JSON, read_body

MAX_FORM_BYTES = 8_192  # a user name and a password, with room to spare
# RFC 6749 §5.1: tokens and refusals must not be kept by any cache on the way.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Public documents: a verifier may keep them a while (it refetches on an unknown key anyway).
PUBLIC = {"Cache-Control": "public, max-age=300"}
# The sign-in page: never cached, never framed (a framed password form invites clickjacking),
# nothing loaded from anywhere.
PAGE = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def routes(issuer: Issuer) -> list[BaseRoute]:
    async def discovery(request: Request) -> Response:
        return JSON(issuer.discovery(), headers=PUBLIC)

    async def jwks(request: Request) -> Response:
        return JSON(issuer.jwks(), headers=PUBLIC)

    async def token(request: Request) -> Response:
        try:
            form = await _form(request)
            grant = form.get("grant_type")
            if grant == "password":
                body = await issuer.password_grant(
                    _required(form, "username"), _required(form, "password")
                )
            elif grant == "client_credentials":
                client_id, secret = _client_auth(request, form)
                body = await issuer.client_credentials(client_id, secret)
            elif grant == "authorization_code":
                body = issuer.code_grant(
                    _public_client(issuer, form),
                    _required(form, "code"),
                    _required(form, "redirect_uri"),
                    form.get("code_verifier"),
                )
            elif grant == "refresh_token":
                body = issuer.refresh_grant(
                    _public_client(issuer, form), _required(form, "refresh_token")
                )
            elif grant is None:
                raise TokenError("invalid_request", "grant_type is missing")
            else:
                raise TokenError("unsupported_grant_type", f"{grant!r} is not supported")
        except TokenError as exc:
            return _refusal(exc)
        return JSON(body, headers=NO_STORE)

    async def authorize(request: Request) -> Response:
        if request.method == "GET":
            params: Mapping[str, str] = request.query_params
        else:
            try:
                params = await _form(request)
            except TokenError as exc:
                return _login_page(None, error=exc.description, status=400)
        try:
            asked = issuer.authorize_request(params)
        except AuthorizeError as exc:
            if not exc.redirect:
                return _login_page(None, error=exc.description, status=400)
            return _back(issuer, exc, params)
        if request.method == "GET":
            return _login_page(asked)
        username, password = params.get("username", ""), params.get("password", "")
        if not username or not password:
            return _login_page(asked, error="กรอกชื่อผู้ใช้และรหัสผ่าน", status=400)
        try:
            account = await issuer.authenticate(username, password)
            code = issuer.issue_code(account, asked)
        except TokenError:
            return _login_page(asked, error="ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง", status=401)
        except AuthorizeError as exc:
            return _back(issuer, exc, params)
        # 303: the browser follows with a GET, so the password is not posted again.
        to = asked.answer(code=code, iss=issuer.issuer_url)
        return RedirectResponse(to, status_code=303, headers=NO_STORE)

    published = anyone("the issuer's public documents (OpenID Connect Discovery, JWKS)")
    return [
        Endpoint(f"{PATH}/.well-known/openid-configuration", discovery, ["GET"], published),
        Endpoint(f"{PATH}/jwks", jwks, ["GET"], published),
        Endpoint(
            f"{PATH}/authorize",
            authorize,
            ["GET", "POST"],
            anyone("the sign-in form: a password, for a registered client and redirect URI"),
        ),
        Endpoint(f"{PATH}/token", token, ["POST"], anyone("sign-in with a password or secret")),
    ]


def _public_client(issuer: Issuer, form: dict[str, str]) -> str:
    """The browser client a code or refresh token is exchanged for: named in the form
    (RFC 6749 §4.1.3), one the issuer registered."""
    client_id = _required(form, "client_id")
    if client_id not in issuer.clients:
        raise TokenError("invalid_client", "unknown client", 401)
    return client_id


def _back(issuer: Issuer, exc: AuthorizeError, params: Mapping[str, str]) -> Response:
    """A refusal sent to the client's (checked) redirect URI, as §4.1.2.1 asks."""
    target = AuthorizeRequest(
        params.get("client_id", ""),
        params.get("redirect_uri", ""),
        params.get("state", ""),
        "",
        None,
        "",
    )
    to = target.answer(error=exc.error, error_description=exc.description, iss=issuer.issuer_url)
    return RedirectResponse(to, status_code=303, headers=NO_STORE)


_STYLE = """
body{font-family:Sarabun,"Noto Sans Thai",Tahoma,sans-serif;margin:0;background:#f4f6f8;
color:#1b1b1b;font-size:1.125rem;line-height:1.6}
main{max-width:26rem;margin:3rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.5rem;margin-top:0}label{display:block;margin-top:1rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1.1rem;border:2px solid #555;
border-radius:4px}
button{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1.1rem;background:#0b5394;
color:#fff;border:0;border-radius:4px;cursor:pointer}
:focus-visible{outline:3px solid #d35400;outline-offset:2px}
.error{background:#fdecea;border-left:6px solid #b3261e;padding:.6rem 1rem;color:#7a1410}
"""


def _login_page(asked: AuthorizeRequest | None, *, error: str = "", status: int = 200) -> Response:
    """The Thai sign-in form; the authorization request rides along in hidden fields."""
    esc = html.escape
    alert = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    if asked is None:
        body = alert or "<p>คำขอเข้าสู่ระบบไม่ถูกต้อง</p>"
        body += "<p>กลับไปที่ระบบที่ต้องการใช้งานแล้วกด “เข้าสู่ระบบ” อีกครั้ง</p>"
    else:
        hidden = "".join(
            f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
            for k, v in asked.params().items()
        )
        body = (
            f'{alert}<form method="post" action="{PATH}/authorize">{hidden}'
            '<label for="username">ชื่อผู้ใช้</label>'
            '<input id="username" name="username" autocomplete="username" required autofocus>'
            '<label for="password">รหัสผ่าน</label>'
            '<input id="password" name="password" type="password" '
            'autocomplete="current-password" required>'
            '<button type="submit">เข้าสู่ระบบ</button></form>'
        )
    page = (
        '<!doctype html><html lang="th"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>เข้าสู่ระบบ – ร่วม</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>เข้าสู่ระบบเจ้าหน้าที่</h1>{body}</main></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=PAGE)


async def _form(request: Request) -> dict[str, str]:
    """RFC 6749 §3.2: `application/x-www-form-urlencoded`, each parameter at most once."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise TokenError("invalid_request", "send the form as application/x-www-form-urlencoded")
    raw = await read_body(request, MAX_FORM_BYTES)
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=False, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise TokenError("invalid_request", "the form is not UTF-8") from exc
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        raise TokenError("invalid_request", f"{repeated[0]} is given more than once")
    return {name: values[0] for name, values in fields.items()}


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise TokenError("invalid_request", f"{name} is missing")
    return value


def _client_auth(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """HTTP Basic (RFC 6749 §2.3.1, which servers must support) or client_id/client_secret
    in the form; not both."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return _required(form, "client_id"), _required(form, "client_secret")
    if "client_secret" in form:
        raise TokenError("invalid_request", "authenticate the client one way, not two")
    try:
        client_id, colon, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError, non-ASCII text
        raise TokenError("invalid_client", "the Basic credentials do not decode", 401) from exc
    if not colon or not client_id:
        raise TokenError("invalid_client", "the Basic credentials name no client", 401)
    # §2.3.1: both halves are form-encoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


def _refusal(exc: TokenError) -> Response:
    body: dict[str, Any] = {"error": exc.error, "error_description": exc.description}
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="ruam"'
    return JSON(body, status_code=exc.status, headers=headers)
