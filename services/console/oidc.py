"""The console as an OpenID Connect client: authorization code flow with PKCE (S256).

Everything about the provider comes from its discovery document (RUAM_OIDC_ISSUER): the
built-in issuer of routing and Keycloak are the same to this module. The ID token's
signature, issuer, audience, expiry and nonce are checked with PyJWT against the provider's
JWKS; the access token is what the services verify, and the console verifies it too
(`shared.auth`) to know the person's roles and department.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from shared.auth import ALGORITHMS, HttpClientFactory

# The discovery document and keys are asked again after this long.
CONFIG_SECONDS = 600.0


class SignInFailed(Exception):
    """The provider refused, or answered what a client must not accept."""


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_in: int
    refresh_token: str | None
    id_token: str | None


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) of RFC 7636, S256."""
    verifier = secrets.token_urlsafe(48)  # 64 characters of the unreserved alphabet
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcClient:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        redirect_uri: str,
        *,
        client_secret: str = "",
        http: HttpClientFactory,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self._secret = client_secret
        self._http = http
        self._monotonic = monotonic
        self._config: dict[str, Any] | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._fetched = 0.0

    async def config(self) -> dict[str, Any]:
        if self._config is None or self._monotonic() - self._fetched > CONFIG_SECONDS:
            url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
            async with self._http() as client:
                doc = await _json(client, "GET", url)
            if doc.get("issuer") != self.issuer:
                raise SignInFailed(f"the discovery document names issuer {doc.get('issuer')!r}")
            for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(needed), str):
                    raise SignInFailed(f"the provider publishes no {needed}")
            self._config, self._keys, self._fetched = doc, None, self._monotonic()
        return self._config

    async def ready(self) -> bool:
        try:
            await self.config()
        except (httpx.HTTPError, SignInFailed, ValueError):
            return False
        return True

    async def authorize_url(self, state: str, nonce: str, challenge: str) -> str:
        config = await self.config()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "ui_locales": "th",
        }
        endpoint = str(config["authorization_endpoint"])
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)

    async def exchange(self, code: str, verifier: str, nonce: str) -> TokenSet:
        tokens = await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            }
        )
        if tokens.id_token is None:
            raise SignInFailed("the provider returned no ID token")
        claims = await self._id_claims(tokens.id_token)
        if claims.get("nonce") != nonce:
            raise SignInFailed("the ID token's nonce is not this sign-in's")
        return tokens

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def end_session_url(self, id_token: str | None, after: str) -> str | None:
        """Where to sign out at the provider too, if it says (RP-Initiated Logout 1.0)."""
        config = await self.config()
        endpoint = config.get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        query = {"client_id": self.client_id, "post_logout_redirect_uri": after}
        if id_token:
            query["id_token_hint"] = id_token
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)

    async def _token(self, form: dict[str, str]) -> TokenSet:
        config = await self.config()
        form = {**form, "client_id": self.client_id}
        if self._secret:
            form["client_secret"] = self._secret
        async with self._http() as client:
            response = await client.post(str(config["token_endpoint"]), data=form)
        try:
            body = response.json()
        except ValueError as exc:
            raise SignInFailed(f"the token endpoint answered {response.status_code}") from exc
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise SignInFailed(f"the provider refused: {error or response.status_code}")
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise SignInFailed("the provider returned no access token")
        expires = body.get("expires_in")
        refresh, id_token = body.get("refresh_token"), body.get("id_token")
        return TokenSet(
            access,
            int(expires) if isinstance(expires, int | float) else 300,
            refresh if isinstance(refresh, str) and refresh else None,
            id_token if isinstance(id_token, str) and id_token else None,
        )

    async def _id_claims(self, id_token: str) -> dict[str, Any]:
        config = await self.config()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise SignInFailed("the ID token is not a JWT") from exc
        if header.get("alg") not in ALGORITHMS:
            raise SignInFailed(f"ID tokens signed with {header.get('alg')!r} are not accepted")
        key = await self._key(str(config["jwks_uri"]), header.get("kid"), fresh=False)
        if key is None:  # a key rotated in since the last look
            key = await self._key(str(config["jwks_uri"]), header.get("kid"), fresh=True)
        if key is None:
            raise SignInFailed("the ID token is signed by a key the provider does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.client_id,
                issuer=self.issuer,
                leeway=30,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInFailed(f"the ID token does not verify: {exc}") from exc
        return claims

    async def _key(self, jwks_uri: str, kid: Any, *, fresh: bool) -> jwt.PyJWK | None:
        if self._keys is None or fresh:
            async with self._http() as client:
                raw = await _json(client, "GET", jwks_uri)
            usable = [
                k
                for k in raw.get("keys", [])
                if isinstance(k, dict)
                and k.get("use", "sig") == "sig"
                and k.get("kty") in ("EC", "RSA")
            ]
            self._keys = jwt.PyJWKSet(usable) if usable else None
        if self._keys is None:
            return None
        candidates = [k for k in self._keys.keys if k.algorithm_name in ALGORITHMS]
        if isinstance(kid, str):
            return next((k for k in candidates if k.key_id == kid), None)
        return candidates[0] if len(candidates) == 1 else None


async def _json(client: httpx.AsyncClient, method: str, url: str) -> dict[str, Any]:
    response = await client.request(method, url, headers={"Accept": "application/json"})
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict):
        raise SignInFailed(f"{url} did not answer with a JSON object")
    return body
