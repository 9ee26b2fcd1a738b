"""How the tools (the demo, `make chaos`, the PII scan) sign in: as the built-in issuer's demo
accounts, with the password grant, as any script would (docs/auth.md)."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

import httpx

# The built-in issuer's published dev password (refused outside RUAM_ENV=dev).
DEMO_PASSWORD = "ruam-demo"
# Its tokens last 15 minutes: a tool signs in again well before.
REUSE_SECONDS = 600.0

# Username -> access token.
SignIn = Callable[[str], Awaitable[str]]


class SignInRefused(RuntimeError):
    """The issuer answered, and did not let the account in."""


async def password_grant(client: httpx.AsyncClient, issuer: str, username: str) -> str:
    """An access token of `username` from `issuer` (found by OpenID Connect discovery)."""
    found = await client.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
    found.raise_for_status()
    r = await client.post(
        found.json()["token_endpoint"],
        data={
            "grant_type": "password",
            "username": username,
            "password": os.environ.get("RUAM_DEMO_PASSWORD", DEMO_PASSWORD),
        },
    )
    if r.status_code != 200:
        raise SignInRefused(f"{username} cannot sign in at {issuer}: {r.text[:200]}")
    token: str = r.json()["access_token"]
    return token


class Accounts:
    """A token per account, taken again before it expires or when it was refused."""

    def __init__(self, sign_in: SignIn) -> None:
        self._sign_in = sign_in
        self._tokens: dict[str, tuple[float, str]] = {}

    @classmethod
    def of(cls, client: httpx.AsyncClient, issuer: str) -> Accounts:
        """The demo accounts of `issuer`, through `client`."""

        async def grant(username: str) -> str:
            return await password_grant(client, issuer, username)

        return cls(grant)

    async def headers(self, username: str) -> dict[str, str]:
        """`Authorization: Bearer ...` of `username`."""
        cached = self._tokens.get(username)
        if cached is None or cached[0] < time.monotonic():
            cached = (time.monotonic() + REUSE_SECONDS, await self._sign_in(username))
            self._tokens[username] = cached
        return {"Authorization": f"Bearer {cached[1]}"}

    def forget(self, username: str) -> None:
        self._tokens.pop(username, None)
