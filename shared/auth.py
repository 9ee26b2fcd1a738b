"""Who is asking: OAuth2 bearer tokens verified against an OpenID Connect issuer.

Every service verifies the same way, whoever signed the token: the built-in issuer that
routing serves (services/routing/identity.py) or an SAO's own identity provider (Keycloak,
Entra ID, ...). The issuer is found by OpenID Connect discovery, its signing keys (JWKS) are
cached, and a token is accepted only when PyJWT has checked its RS256/ES256 signature against
one of them and its issuer, audience, expiry and subject. No cryptography is done here.

Endpoints call `principal(request)` or `require(request, *roles)`; both read the verifier from
`request.app.state.verifier` (`verifier_for(settings)` builds it). See docs/auth.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from starlette.requests import Request
from starlette.responses import Response

from shared.http import ApiError, app_state
from shared.roles import ROLE_NAMES, Role
from shared.settings import ServiceSettings

log = logging.getLogger("ruam.auth")

# Asymmetric only: a symmetric (HS*) algorithm would let anyone holding the issuer's public key
# sign tokens, and `none` signs nothing.
ALGORITHMS = ("RS256", "ES256")
# Clocks of the issuer and the services drift a little; more would stretch a 15-minute token.
LEEWAY_SECONDS = 30.0
# A token naming a key we do not know makes us ask the issuer again, but no more often than
# this: otherwise a stream of made-up `kid`s would have us hammer the identity provider.
REFETCH_EVERY_SECONDS = 30.0
# Keys are looked at again after this long even when every token names a known one, so that
# a key the provider withdrew (rotated out or compromised) stops being accepted.
MAX_KEY_AGE_SECONDS = 3600.0
# After a failed fetch with no keys yet, requests are refused (503) for this long before the
# next try, rather than each one waiting on an unreachable provider.
RETRY_AFTER_FAILURE_SECONDS = 2.0
# Far above any real access token (Keycloak's with many roles is a few KB).
MAX_TOKEN_BYTES = 16_384


@dataclass(frozen=True)
class Principal:
    """The person or service account a verified token speaks for."""

    subject: str
    org_id: str
    roles: frozenset[Role]
    department: str | None = None
    officer_id: str | None = None
    name: str | None = None

    def has(self, *roles: Role) -> bool:
        """Whether this principal holds at least one of `roles`."""
        return not self.roles.isdisjoint(roles)


class Unauthorized(ApiError):
    """401: no token, or one that does not verify. RFC 6750's challenge tells the client
    whether to sign in (no token: plain `Bearer`) or to get a new token (`invalid_token`)."""

    def __init__(self, message: str, *, token_given: bool = True) -> None:
        super().__init__(401, "unauthorized", message)
        self.token_given = token_given

    def response(self) -> Response:
        response = super().response()
        response.headers["WWW-Authenticate"] = (
            'Bearer error="invalid_token"' if self.token_given else "Bearer"
        )
        return response


class Forbidden(ApiError):
    """403: the token is good, but its roles do not allow this."""

    def __init__(self, message: str) -> None:
        super().__init__(403, "forbidden", message)


HttpClientFactory = Callable[[], httpx.AsyncClient]


def _default_http() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=5.0)


class TokenVerifier:
    """Verifies access tokens of one issuer for one audience; one per service process."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        http: HttpClientFactory | None = None,
        leeway: float = LEEWAY_SECONDS,
        refetch_every: float = REFETCH_EVERY_SECONDS,
        max_key_age: float = MAX_KEY_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.refetch_every = refetch_every
        self.max_key_age = max_key_age
        self._http = http or _default_http
        self._monotonic = monotonic
        # RSA keys under 2048 bits are refused, not trusted.
        self._jwt = jwt.PyJWT(options={"enforce_minimum_key_length": True})
        self._keys: list[jwt.PyJWK] | None = None
        self._fetched_at = 0.0
        self._next_fetch = 0.0  # monotonic time before which the issuer is not asked again
        self._lock = asyncio.Lock()
        self.fetches = 0  # how often the issuer was asked (the tests count them)

    @property
    def discovery_url(self) -> str:
        # OpenID Connect Discovery 1.0 §4: the issuer without a trailing slash, then the path.
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; `Unauthorized` for any other."""
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("the token is not a signed JWT") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthorized(f"tokens signed with {alg!r} are not accepted")
        kid = header.get("kid")
        key = await self._key(kid if isinstance(kid, str) else None, str(alg))
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthorized("the token is not valid yet") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized(f"the token is not meant for {self.audience!r}") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized(f"the token was not issued by {self.issuer}") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the token has no {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:  # a bad signature or a malformed claim
            raise Unauthorized(f"the token does not verify: {exc}") from exc
        return principal_from_claims(claims, self.audience)

    # -- keys ---------------------------------------------------------------------------

    async def _key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        if self._keys is None or self._monotonic() - self._fetched_at >= self.max_key_age:
            await self._refresh()
        if self._keys is None:
            raise ApiError(
                503,
                "identity_provider_unreachable",
                f"cannot fetch the signing keys of {self.issuer}",
                retry_after=max(1, round(RETRY_AFTER_FAILURE_SECONDS)),
            )
        key = _pick(self._keys, kid, alg)
        if key is None:
            # A key rotated in since the last fetch; _refresh is rate-limited.
            await self._refresh()
            key = _pick(self._keys, kid, alg)
        if key is None:
            raise Unauthorized("the token is signed by a key the issuer does not publish")
        return key

    async def _refresh(self) -> None:
        async with self._lock:
            started = self._monotonic()
            if started < self._next_fetch:  # just fetched (perhaps by a request we waited on)
                return
            self.fetches += 1
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("signing keys of %s not fetched: %s", self.issuer, exc)
                self._next_fetch = started + (
                    RETRY_AFTER_FAILURE_SECONDS if self._keys is None else self.refetch_every
                )
                return
            self._keys = keys
            self._fetched_at = started
            self._next_fetch = started + self.refetch_every

    async def _fetch(self) -> list[jwt.PyJWK]:
        async with self._http() as client:
            config = await _get_json(client, self.discovery_url)
            if config.get("issuer") != self.issuer:
                # OpenID Connect Discovery §4.3: a document for another issuer is not ours.
                raise ValueError(f"the discovery document names issuer {config.get('issuer')!r}")
            jwks_uri = config.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri:
                raise ValueError("the discovery document has no jwks_uri")
            jwks = await _get_json(client, jwks_uri)
        raw = jwks.get("keys")
        if not isinstance(raw, list):
            raise ValueError("the JWKS has no keys list")
        return _signing_keys(raw)


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"{url} did not answer with a JSON object")
    return body


def _signing_keys(raw: Sequence[Any]) -> list[jwt.PyJWK]:
    """The usable signature keys of a JWKS. Providers also publish encryption keys and keys
    of algorithms we refuse (Keycloak: RSA-OAEP, HS512 for its own use): those are skipped,
    so a symmetric key can never be the one a token is checked against."""
    keys: list[jwt.PyJWK] = []
    for entry in raw:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in ALGORITHMS:
            keys.append(key)
    return keys


def _pick(keys: Sequence[jwt.PyJWK] | None, kid: str | None, alg: str) -> jwt.PyJWK | None:
    candidates = [k for k in keys or () if k.algorithm_name == alg]
    if kid is not None:
        return next((k for k in candidates if k.key_id == kid), None)
    # No kid: acceptable only when the issuer leaves no doubt which key it means.
    return candidates[0] if len(candidates) == 1 else None


# --------------------------------------------------------------------------- claims


def principal_from_claims(claims: Mapping[str, Any], audience: str) -> Principal:
    """Claims of a verified token as a Principal.

    Roles come from a top-level `roles` list (the built-in issuer, Entra ID's app roles),
    else from Keycloak's `realm_access.roles` and `resource_access.<audience>.roles`. Role
    names we do not know are ignored: a provider has many roles of its own."""
    typ = claims.get("typ")
    if isinstance(typ, str) and typ.lower() != "bearer":
        # Keycloak marks its ID tokens "ID": proof of who someone is, not an access grant.
        raise Unauthorized(f"a {typ} token is not an access token")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("the token has no subject")
    org_id = claims.get("org_id")
    if not isinstance(org_id, str) or not org_id:
        raise Unauthorized("the token names no organisation (org_id)")
    officer_id = _text(claims.get("officer_id")) or _text(claims.get("preferred_username"))
    return Principal(
        subject=subject,
        org_id=org_id,
        roles=_roles(claims, audience),
        department=_text(claims.get("department")),
        officer_id=officer_id,
        name=_text(claims.get("name")),
    )


def _roles(claims: Mapping[str, Any], audience: str) -> frozenset[Role]:
    top = claims.get("roles")
    if isinstance(top, list):
        names: list[Any] = top
    else:
        client = _mapping(claims.get("resource_access")).get(audience)
        names = [*_list(_mapping(claims.get("realm_access")).get("roles"))]
        names += _list(_mapping(client).get("roles"))
    return frozenset(Role(n) for n in names if isinstance(n, str) and n in ROLE_NAMES)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------- Starlette


def bearer_token(request: Request) -> str:
    """The token of `Authorization: Bearer <token>`; `Unauthorized` (plain challenge) if
    the request carries none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("sign in: this needs a bearer token", token_given=False)
    return token


async def principal(request: Request) -> Principal:
    """Who sent the request, verified (`request.app.state.verifier`); once per request."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    token = bearer_token(request)
    who = await app_state(request, "verifier", TokenVerifier).verify(token)
    request.state.principal = who
    return who


async def require(request: Request, *roles: Role) -> Principal:
    """The verified principal if it holds one of `roles` (any signed-in one if none are
    named); `Forbidden` otherwise."""
    who = await principal(request)
    if roles and not who.has(*roles):
        raise Forbidden(f"this needs the role {' or '.join(r.value for r in roles)}")
    return who


def verifier_for(
    settings: ServiceSettings, *, http: HttpClientFactory | None = None
) -> TokenVerifier:
    """The verifier a service puts on `app.state.verifier`: RUAM_OIDC_ISSUER's tokens for
    RUAM_OIDC_AUDIENCE."""
    return TokenVerifier(settings.oidc_issuer, settings.oidc_audience, http=http)
