"""Signing in through a real Keycloak, and through the built-in issuer, with the same test.

Keycloak runs as a process (deploy/local/keycloak.py: fetched with Maven and cached under
$RUAM_CACHE the first time, then started on a free port with the realm of
deploy/local/keycloak-realm.json). The built-in issuer is routing's `/oidc`, served
in-process by routing itself (on fakes). For both, people sign in with the password grant,
and `shared.auth` verifies their tokens through discovery and the JWKS as every service does,
maps the roles (Keycloak's from `realm_access`) and claims, refuses tokens that are not Ruam's
access tokens, and guards a Starlette endpoint with `require(request, Role.HEAD)`; routing,
set to trust that issuer, answers `GET /v1/cases` by role. No Kafka or database is needed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deploy.local import keycloak
from services.routing.bootstrap import create_service
from services.routing.identity import DEMO_PASSWORD
from services.routing.settings import RoutingSettings
from shared.auth import HttpClientFactory, TokenVerifier, Unauthorized, require
from shared.http import JSON, exception_handlers
from shared.roles import Role
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories

pytestmark = pytest.mark.e2e

AUDIENCE = "ruam"
KEYCLOAK = "keycloak"
BUILTIN = "builtin"
BUILTIN_ISSUER = "http://127.0.0.1:8002/oidc"  # served in-process: no port is opened

# Who signs in, and what Ruam must make of their token. The officers' names and departments
# are the directory's (services/routing/config/orgs/sraphonthong.yaml), which the Keycloak
# realm repeats as user attributes.
PEOPLE: dict[str, tuple[Role, str | None, str | None]] = {
    "eng-somchai": (Role.OFFICER, "engineering", "นายสมชาย ใจดี"),
    "eng-head": (Role.HEAD, "engineering", "นายสุริยา วงศ์คำ"),
    "palad": (Role.EXECUTIVE, "executive", "นางสาวกาญจนา บุญมา"),
    "auditor": (Role.AUDITOR, None, None),
    "planner": (Role.PLANNER, None, None),
    "operator": (Role.OPERATOR, None, None),
}


@dataclass(frozen=True)
class Provider:
    """An OpenID Connect issuer under test, and how the test and the verifier reach it."""

    kind: str
    issuer: str
    token_endpoint: str
    password: str
    http: HttpClientFactory
    algorithm: str
    routing: Callable[[], Any]  # routing's ASGI app, trusting this issuer
    client_id: str | None = None  # Keycloak's OAuth client; the built-in issuer has none

    def verifier(self, audience: str = AUDIENCE) -> TokenVerifier:
        return TokenVerifier(self.issuer, audience, http=self.http)

    async def sign_in(
        self, username: str, *, client_id: str | None = None, scope: str | None = None
    ) -> dict[str, Any]:
        form = {"grant_type": "password", "username": username, "password": self.password}
        if client_id or self.client_id:
            form["client_id"] = client_id or self.client_id or ""
        if scope:
            form["scope"] = scope
        async with self.http() as client:
            response = await client.post(self.token_endpoint, data=form)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["token_type"].lower() == "bearer"
        return body

    async def token(self, username: str) -> str:
        token: str = (await self.sign_in(username))["access_token"]
        return token


def _network() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10.0)


def _in_process(app: Any) -> HttpClientFactory:
    def factory() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app)
        return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8002")

    return factory


@pytest.fixture(scope="module")
def keycloak_server() -> Iterator[keycloak.Keycloak]:
    """One real Keycloak for this module's tests; stopped when they are done, so the rest
    of the suite does not share the machine with it. A failed fetch or start fails."""
    with keycloak.running() as server:
        print(
            f"Keycloak {keycloak.KEYCLOAK_VERSION} on Java {server.java_version} ready in "
            f"{server.started_in:.1f}s{' (realm imported)' if server.imported else ''}"
        )
        yield server


def routing_on_fakes(**settings: Any) -> Any:
    """Routing's ASGI app (API and, unless told otherwise, its issuer under /oidc), on an
    in-memory case store and the shipped directory."""
    service = create_service(
        RoutingSettings(env="dev", oidc_audience=AUDIENCE, **settings),
        cases=FakeCaseRepository(),
        directories=StaticDirectories(),
        ranker=FakeRanker(),
    )
    return service.asgi


@pytest.fixture(scope="module")
def builtin_app() -> Any:
    """Routing with its built-in issuer (dev: directory officers and demo accounts, argon2id
    at the service's own cost), which it also trusts."""
    return routing_on_fakes(oidc_issuer=BUILTIN_ISSUER)


@pytest.fixture(params=[KEYCLOAK, BUILTIN])
def provider(request: pytest.FixtureRequest) -> Provider:
    if request.param == KEYCLOAK:
        server: keycloak.Keycloak = request.getfixturevalue("keycloak_server")
        return Provider(
            kind=KEYCLOAK,
            issuer=server.issuer,
            token_endpoint=server.token_endpoint,
            password=keycloak.TEST_PASSWORD,
            http=_network,
            algorithm="RS256",
            routing=lambda: routing_on_fakes(oidc_issuer=server.issuer, builtin_issuer=False),
            client_id=keycloak.CLIENT_ID,
        )
    app = request.getfixturevalue("builtin_app")
    return Provider(
        kind=BUILTIN,
        issuer=BUILTIN_ISSUER,
        token_endpoint=f"{BUILTIN_ISSUER}/token",
        password=DEMO_PASSWORD,
        http=_in_process(app),
        algorithm="ES256",
        routing=lambda: app,
    )


@pytest.mark.parametrize("username", list(PEOPLE))
async def test_a_sign_in_gives_a_token_that_ruam_maps_to_the_principal(
    provider: Provider, username: str
) -> None:
    role, department, name = PEOPLE[username]
    token = await provider.token(username)
    assert jwt.get_unverified_header(token)["alg"] == provider.algorithm

    verifier = provider.verifier()
    who = await verifier.verify(token)
    assert who.roles == {role}
    assert who.org_id == "sraphonthong"
    assert who.department == department
    claims = jwt.decode(token, options={"verify_signature": False})
    if department is not None:  # an officer of the directory
        assert who.officer_id == username
        assert who.name == name
    if provider.kind == KEYCLOAK:
        # Keycloak names its users by an id of its own, and its roles come in realm_access
        # beside its own ones, which Ruam ignores.
        assert uuid.UUID(who.subject)
        assert claims["typ"] == "Bearer" and claims["preferred_username"] == username
        assert role.value in claims["realm_access"]["roles"]
        assert "offline_access" in claims["realm_access"]["roles"]
        assert "roles" not in claims
        # docs/auth.md: with no officer_id claim, preferred_username is the officer id, so
        # a Keycloak account outside the directory gets its username (which names nobody).
        assert who.officer_id == username
    else:
        assert who.subject == username
        assert claims["roles"] == [role.value]
        if department is None:
            assert who.officer_id is None
    assert verifier.fetches == 1


async def test_a_token_for_another_audience_is_refused(provider: Provider) -> None:
    token = await provider.token("eng-head")
    with pytest.raises(Unauthorized, match="not meant for 'another-app'"):
        await provider.verifier("another-app").verify(token)
    assert (await provider.verifier().verify(token)).roles == {Role.HEAD}


@pytest.mark.parametrize("provider", [KEYCLOAK], indirect=True)
async def test_keycloak_id_tokens_and_tokens_of_another_client_are_refused(
    provider: Provider,
) -> None:
    verifier = provider.verifier()
    body = await provider.sign_in("eng-head", scope="openid")
    id_token = body["id_token"]
    claims = jwt.decode(id_token, options={"verify_signature": False})
    # Signed by the same key, for the same audience, with the same claims: only `typ` says
    # that it proves who signed in and grants nothing.
    assert claims["typ"] == "ID" and claims["aud"] == AUDIENCE
    assert claims["org_id"] == "sraphonthong"
    with pytest.raises(Unauthorized, match="not an access token"):
        await verifier.verify(id_token)
    assert (await verifier.verify(body["access_token"])).roles == {Role.HEAD}

    # The same person, signed in to another application of the realm.
    other = (await provider.sign_in("eng-head", client_id=keycloak.OTHER_CLIENT_ID))["access_token"]
    audience = jwt.decode(other, options={"verify_signature": False}).get("aud")
    assert AUDIENCE not in (audience if isinstance(audience, list) else [audience])
    with pytest.raises(Unauthorized):
        await verifier.verify(other)


def guarded_app(verifier: TokenVerifier) -> Starlette:
    """An endpoint that only a head may call, as the services guard theirs."""

    async def department_cases(request: Request) -> Response:
        who = await require(request, Role.HEAD)
        return JSON({"department": who.department, "officer_id": who.officer_id})

    app = Starlette(
        routes=[Route("/v1/department-cases", department_cases)],
        exception_handlers=exception_handlers({}),
    )
    app.state.verifier = verifier
    return app


async def test_an_endpoint_that_requires_a_head(provider: Provider) -> None:
    verifier = provider.verifier()
    app = guarded_app(verifier)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:

        async def call(token: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            return await client.get("/v1/department-cases", headers=headers)

        head = await call(await provider.token("eng-head"))
        assert head.status_code == 200, head.text
        assert head.json() == {"department": "engineering", "officer_id": "eng-head"}

        for username in ("eng-somchai", "palad", "auditor"):
            refused = await call(await provider.token(username))
            assert refused.status_code == 403, (username, refused.text)
            assert refused.json()["error"] == "forbidden"

        anonymous = await call(None)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"

        forged = await call(await provider.token("eng-head") + "x")
        assert forged.status_code == 401
        assert forged.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert verifier.fetches == 1  # the issuer's keys were fetched once and kept


async def test_routing_answers_cases_by_the_role_in_the_token(provider: Provider) -> None:
    transport = httpx.ASGITransport(app=provider.routing())
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:

        async def cases(username: str | None, **params: str) -> httpx.Response:
            headers = {}
            if username is not None:
                headers["Authorization"] = f"Bearer {await provider.token(username)}"
            return await client.get("/v1/cases", headers=headers, params=params)

        assert (await cases(None)).status_code == 401
        for username in ("eng-somchai", "eng-head", "palad", "auditor"):
            listed = await cases(username)
            assert listed.status_code == 200, (username, listed.text)
            assert listed.json()["items"] == []
        for username in ("planner", "operator"):  # not readers of cases
            assert (await cases(username)).status_code == 403, username
        # Officers and heads see their own department only: the token's, not the query's.
        assert (await cases("eng-somchai", department="finance")).status_code == 403
        assert (await cases("palad", department="finance")).status_code == 200
