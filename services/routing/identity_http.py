"""The built-in issuer over HTTP: discovery, JWKS and the RFC 6749 token endpoint, under /oidc.

The token endpoint answers in OAuth 2.0's own terms (form-encoded requests, `{"error": ...}`
refusals, no caching) rather than the services' ApiError shape, so that any OAuth client
library can sign in with it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from services.routing.identity import PATH, Issuer, TokenError
from shared.access import Endpoint, anyone
from shared.http import JSON, read_body

MAX_FORM_BYTES = 8_192  # a user name and a password, with room to spare
# RFC 6749 §5.1: tokens and refusals must not be kept by any cache on the way.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Public documents: a verifier may keep them a while (it refetches on an unknown key anyway).
PUBLIC = {"Cache-Control": "public, max-age=300"}


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
            elif grant is None:
                raise TokenError("invalid_request", "grant_type is missing")
            else:
                raise TokenError("unsupported_grant_type", f"{grant!r} is not supported")
        except TokenError as exc:
            return _refusal(exc)
        return JSON(body, headers=NO_STORE)

    published = anyone("the issuer's public documents (OpenID Connect Discovery, JWKS)")
    return [
        Endpoint(f"{PATH}/.well-known/openid-configuration", discovery, ["GET"], published),
        Endpoint(f"{PATH}/jwks", jwks, ["GET"], published),
        Endpoint(f"{PATH}/token", token, ["POST"], anyone("sign-in with a password or secret")),
    ]


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
    except (binascii.Error, UnicodeDecodeError) as exc:
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
