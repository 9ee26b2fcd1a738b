"""The built-in OpenID Connect issuer routing serves under /oidc: discovery, JWKS, the
token endpoint's grants and refusals, and its tokens verified by `shared.auth.TokenVerifier`
against the issuer served in-process, as every service will verify them."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from starlette.applications import Starlette

from services.routing import identity_http
from services.routing.bootstrap import create_service
from services.routing.identity import (
    DEMO_PASSWORD,
    DEV_CLIENT,
    Issuer,
    IssuerMisconfigured,
    SigningKey,
    create_issuer,
    main,
)
from services.routing.settings import RoutingSettings
from shared.auth import Principal, TokenVerifier, Unauthorized
from shared.http import exception_handlers
from shared.roles import Role
from tests.routing.fakes import (
    FakeCaseRepository,
    FakeRanker,
    StaticDirectories,
    with_officer_status,
)

ISSUER = "http://127.0.0.1:8002/oidc"
TOKEN = "/oidc/token"
# Real argon2id, at a cost a test can afford (the service uses argon2-cffi's defaults).
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
KEY = SigningKey.generate()


def settings(**overrides: Any) -> RoutingSettings:
    values: dict[str, Any] = {"env": "dev", "oidc_issuer": ISSUER, "oidc_audience": "ruam"}
    values.update(overrides)
    return RoutingSettings(**values)


def issuer_app(issuer: Issuer) -> Starlette:
    return Starlette(routes=identity_http.routes(issuer), exception_handlers=exception_handlers({}))


def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


def verifier_of(app: Any) -> TokenVerifier:
    """A verifier that finds the issuer through discovery, as a service does over the network."""
    return TokenVerifier(ISSUER, "ruam", http=lambda: client_of(app))


def dev_issuer(**overrides: Any) -> Issuer:
    return create_issuer(
        settings(oidc_signing_key=SecretStr(KEY.pem()), **overrides),
        StaticDirectories(),
        hasher=CHEAP,
    )


@pytest.fixture
async def dev() -> AsyncIterator[tuple[httpx.AsyncClient, TokenVerifier]]:
    app = issuer_app(dev_issuer())
    async with client_of(app) as client:
        yield client, verifier_of(app)


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password}
    return await client.post(TOKEN, data=form)


# --------------------------------------------------------------------------- documents


async def test_routing_serves_the_discovery_document_and_jwks() -> None:
    service = create_service(
        settings(), cases=FakeCaseRepository(), directories=StaticDirectories(), ranker=FakeRanker()
    )
    async with client_of(service.asgi) as client:
        r = await client.get("/oidc/.well-known/openid-configuration")
        assert r.status_code == 200
        doc = r.json()
        assert doc["issuer"] == ISSUER
        assert doc["jwks_uri"] == f"{ISSUER}/jwks"
        assert doc["token_endpoint"] == f"{ISSUER}/token"
        assert set(doc["grant_types_supported"]) == {
            "authorization_code",
            "refresh_token",
            "password",
            "client_credentials",
        }
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert doc["id_token_signing_alg_values_supported"] == ["ES256"]

        keys = (await client.get("/oidc/jwks")).json()["keys"]
        assert len(keys) == 1
        (key,) = keys
        assert key["kty"] == "EC" and key["crv"] == "P-256"
        assert key["alg"] == "ES256" and key["use"] == "sig" and key["kid"]
        assert "d" not in key  # the public half only
        # The service's own API is still there beside it, and takes the tokens it issues
        # (verified in process through the same discovery and JWKS).
        assert (await client.get("/v1/cases")).status_code == 401
        token = await client.post(
            "/oidc/token",
            data={"grant_type": "password", "username": "eng-head", "password": "ruam-demo"},
        )
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert (await client.get("/v1/cases", headers=bearer)).status_code == 200


async def test_a_configured_key_is_published_under_a_stable_kid() -> None:
    pem = KEY.pem()
    first = create_issuer(
        settings(env="production", oidc_signing_key=SecretStr(pem)), StaticDirectories()
    )
    again = create_issuer(
        settings(env="production", oidc_signing_key=SecretStr(pem)), StaticDirectories()
    )
    assert first.jwks() == again.jwks() == {"keys": [KEY.public_jwk()]}
    # A one-line PEM from an environment file, and a key file, are the same key.
    one_line = pem.replace("\n", "\\n")
    assert (
        create_issuer(
            settings(env="production", oidc_signing_key=SecretStr(one_line)), StaticDirectories()
        ).jwks()
        == first.jwks()
    )


async def test_a_key_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_text(KEY.pem())
    made = create_issuer(
        settings(env="production", oidc_signing_key_file=str(path)), StaticDirectories()
    )
    assert made.jwks()["keys"][0]["kid"] == KEY.kid


# --------------------------------------------------------------------------- password grant


@pytest.mark.parametrize(
    ("username", "roles", "department"),
    [
        ("desk", ["officer"], "office"),
        ("eng-somchai", ["officer"], "engineering"),
        ("eng-head", ["head"], "engineering"),
        ("palad", ["executive"], "executive"),
        ("nayok", ["executive"], "executive"),
        ("auditor", ["auditor"], None),
        ("operator", ["operator"], None),
        ("planner", ["planner"], None),
    ],
)
async def test_demo_accounts_sign_in_with_their_roles(
    dev: tuple[httpx.AsyncClient, TokenVerifier],
    username: str,
    roles: list[str],
    department: str | None,
) -> None:
    client, verifier = dev
    r = await sign_in(client, username, DEMO_PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert r.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["roles"] == roles
    assert claims["exp"] - claims["iat"] == 900
    for claim in ("iss", "aud", "sub", "exp", "iat", "jti", "org_id"):
        assert claim in claims
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"

    who = await verifier.verify(body["access_token"])
    assert who.subject == username and who.org_id == "sraphonthong"
    assert who.roles == {Role(r) for r in roles}
    assert who.department == department
    assert who.officer_id == (username if department else None)


async def test_an_officer_token_carries_the_directory_name(
    dev: tuple[httpx.AsyncClient, TokenVerifier],
) -> None:
    client, verifier = dev
    token = (await sign_in(client, "eng-head", DEMO_PASSWORD)).json()["access_token"]
    assert await verifier.verify(token) == Principal(
        subject="eng-head",
        org_id="sraphonthong",
        roles=frozenset({Role.HEAD}),
        department="engineering",
        officer_id="eng-head",
        name="นายสุริยา วงศ์คำ",
    )


async def test_a_wrong_password_or_unknown_user_is_invalid_grant(
    dev: tuple[httpx.AsyncClient, TokenVerifier],
) -> None:
    client, _ = dev
    for username, password in (
        ("desk", "ruam-demo!"),
        ("desk", ""),
        ("nobody", DEMO_PASSWORD),
        (DEV_CLIENT, DEMO_PASSWORD),  # a service account is no person
    ):
        r = await sign_in(client, username, password)
        assert r.status_code == 400, (username, password)
        assert r.json()["error"] in ("invalid_grant", "invalid_request")
        assert r.headers["cache-control"] == "no-store"
    r = await sign_in(client, "desk", "wrong")
    assert r.json() == {"error": "invalid_grant", "error_description": "wrong username or password"}
    assert (await sign_in(client, "nobody", "wrong")).json() == r.json()


async def test_an_officer_who_left_cannot_sign_in() -> None:
    directory = with_officer_status("eng-wichai", "inactive")
    issuer = create_issuer(
        settings(oidc_signing_key=SecretStr(KEY.pem())), StaticDirectories(directory), hasher=CHEAP
    )
    async with client_of(issuer_app(issuer)) as client:
        assert (await sign_in(client, "eng-wichai", DEMO_PASSWORD)).status_code == 400
        # On leave is still on the staff.
        assert (await sign_in(client, "wel-dev2", DEMO_PASSWORD)).status_code == 200


async def test_the_token_endpoint_speaks_rfc_6749(
    dev: tuple[httpx.AsyncClient, TokenVerifier],
) -> None:
    client, _ = dev
    r = await client.post(TOKEN, data={"grant_type": "implicit", "code": "x"})
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    # The code flow is the console's (tests/console/unit/test_sign_in.py); a code without
    # its client is malformed.
    r = await client.post(TOKEN, data={"grant_type": "authorization_code", "code": "x"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = await client.post(TOKEN, data={"username": "desk", "password": DEMO_PASSWORD})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = await client.post(
        TOKEN, json={"grant_type": "password", "username": "desk", "password": DEMO_PASSWORD}
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = await client.post(
        TOKEN,
        content="grant_type=password&username=desk&username=palad&password=ruam-demo",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert (await client.get(TOKEN)).status_code == 405


# --------------------------------------------------------------------------- client credentials


async def test_a_service_account_signs_in_by_client_credentials(
    dev: tuple[httpx.AsyncClient, TokenVerifier],
) -> None:
    client, verifier = dev
    form = {"grant_type": "client_credentials", "client_id": DEV_CLIENT}
    r = await client.post(TOKEN, data={**form, "client_secret": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    who = await verifier.verify(r.json()["access_token"])
    assert who.subject == DEV_CLIENT and who.roles == {Role.OPERATOR}
    assert who.officer_id is None and who.department is None

    basic = base64.b64encode(f"{DEV_CLIENT}:{DEMO_PASSWORD}".encode()).decode()
    r = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text

    r = await client.post(TOKEN, data={**form, "client_secret": "wrong"})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    assert r.headers["www-authenticate"].startswith("Basic")
    # Credentials that are not base64 at all, not even ASCII: refused, never a 500.
    for garbage in ("Basic \u00e9\u00e9\u00e9\u00e9", "Basic !!!", "Basic " + "//79"):
        r = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers={b"Authorization": garbage.encode("utf-8")},
        )
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client"), garbage
    # A person is no client.
    r = await client.post(TOKEN, data={**form, "client_id": "desk", "client_secret": DEMO_PASSWORD})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")


# --------------------------------------------------------------------------- outside dev


def credentials_file(tmp_path: Path) -> Path:
    path = tmp_path / "credentials.yaml"
    path.write_text(
        f"""
eng-somchai:
  password_hash: "{CHEAP.hash("somchai's own password")}"
eng-anan:
  password_hash: "{CHEAP.hash("anan's own password")}"
  roles: [officer, planner]
auditor-1:
  password_hash: "{CHEAP.hash("audit 2569")}"
  roles: [auditor]
reports:
  password_hash: "{CHEAP.hash("a long client secret")}"
  roles: [planner]
  client: true
leaked:
  password_hash: "{CHEAP.hash(DEMO_PASSWORD)}"
  roles: [executive]
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def production(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, TokenVerifier]]:
    issuer = create_issuer(
        settings(
            env="production",
            oidc_signing_key=SecretStr(KEY.pem()),
            credentials_file=str(credentials_file(tmp_path)),
        ),
        StaticDirectories(),
        hasher=CHEAP,
    )
    app = issuer_app(issuer)
    async with client_of(app) as client:
        yield client, verifier_of(app)


async def test_the_credentials_file_decides_who_signs_in(
    production: tuple[httpx.AsyncClient, TokenVerifier],
) -> None:
    client, verifier = production
    r = await sign_in(client, "eng-somchai", "somchai's own password")
    who = await verifier.verify(r.json()["access_token"])
    assert who.roles == {Role.OFFICER} and who.department == "engineering"  # from the directory
    r = await sign_in(client, "eng-anan", "anan's own password")
    assert (await verifier.verify(r.json()["access_token"])).roles == {Role.OFFICER, Role.PLANNER}
    r = await sign_in(client, "auditor-1", "audit 2569")
    who = await verifier.verify(r.json()["access_token"])
    assert who.roles == {Role.AUDITOR} and who.officer_id is None
    form = {"grant_type": "client_credentials", "client_id": "reports"}
    r = await client.post(TOKEN, data={**form, "client_secret": "a long client secret"})
    assert (await verifier.verify(r.json()["access_token"])).roles == {Role.PLANNER}
    # An officer of the directory without an entry cannot sign in, nor can a client as a person.
    assert (await sign_in(client, "desk", "anything")).status_code == 400
    assert (await sign_in(client, "reports", "a long client secret")).status_code == 400


async def test_the_demo_password_is_refused_outside_dev(
    production: tuple[httpx.AsyncClient, TokenVerifier],
) -> None:
    client, _ = production
    for username in ("desk", "auditor", "leaked"):  # "leaked" has it hashed in the file
        r = await sign_in(client, username, DEMO_PASSWORD)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_grant"), username
    form = {"grant_type": "client_credentials", "client_id": DEV_CLIENT}
    r = await client.post(TOKEN, data={**form, "client_secret": DEMO_PASSWORD})
    assert r.status_code in (400, 401)


async def test_no_demo_accounts_outside_dev_even_without_a_credentials_file() -> None:
    issuer = create_issuer(
        settings(env="production", oidc_signing_key=SecretStr(KEY.pem())),
        StaticDirectories(),
        hasher=CHEAP,
    )
    async with client_of(issuer_app(issuer)) as client:
        for username in ("desk", "palad", "auditor"):
            r = await sign_in(client, username, DEMO_PASSWORD)
            assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


def test_routing_refuses_to_start_without_a_key_outside_dev() -> None:
    def start(**overrides: Any) -> object:
        return create_service(
            settings(**overrides),
            cases=FakeCaseRepository(),
            directories=StaticDirectories(),
            ranker=FakeRanker(),
        )

    with pytest.raises(IssuerMisconfigured, match="RUAM_OIDC_SIGNING_KEY"):
        start(env="production")
    # With another provider signing the tokens, routing serves no issuer and needs no key.
    start(env="production", builtin_issuer=False, oidc_issuer="https://kc.example/realms/sao")
    with pytest.raises(IssuerMisconfigured, match="ROUTING_BUILTIN_ISSUER"):
        start(env="dev", oidc_issuer="https://kc.example/realms/sao")


@pytest.mark.parametrize(
    "make_pem",
    [
        lambda: "not a key",
        lambda: (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        ),
    ],
    ids=["garbage", "rsa"],
)
def test_a_bad_signing_key_is_refused(make_pem: Callable[[], str]) -> None:
    with pytest.raises(IssuerMisconfigured):
        create_issuer(
            settings(env="production", oidc_signing_key=SecretStr(make_pem())),
            StaticDirectories(),
        )


def test_a_bad_credentials_file_is_refused(tmp_path: Path) -> None:
    for text in (
        "desk: {password_hash: plain-text}",
        "desk: {password_hash: $argon2id$x, roles: [superuser]}",
        "bot: {password_hash: $argon2id$x, client: true}",  # a client must name its roles
    ):
        path = tmp_path / "credentials.yaml"
        path.write_text(text)
        with pytest.raises(IssuerMisconfigured):
            create_issuer(settings(credentials_file=str(path)), StaticDirectories())


# --------------------------------------------------------------------------- tokens


async def test_an_expired_built_in_token_is_refused_by_the_verifier() -> None:
    stale = Issuer(
        ISSUER,
        "ruam",
        "sraphonthong",
        StaticDirectories(),
        KEY,
        credentials=None,
        dev=True,
        hasher=CHEAP,
        now=lambda: time.time() - 3600,
    )
    app = issuer_app(stale)
    async with client_of(app) as client:
        token = (await sign_in(client, "desk", DEMO_PASSWORD)).json()["access_token"]
    with pytest.raises(Unauthorized, match="expired"):
        await verifier_of(app).verify(token)


async def test_a_token_of_another_key_is_refused() -> None:
    """A routing restart in dev makes a new key: the old tokens stop verifying."""
    before = issuer_app(dev_issuer())
    async with client_of(before) as client:
        token = (await sign_in(client, "desk", DEMO_PASSWORD)).json()["access_token"]
    restarted = create_issuer(settings(), StaticDirectories(), hasher=CHEAP)
    with pytest.raises(Unauthorized):
        await verifier_of(issuer_app(restarted)).verify(token)


# --------------------------------------------------------------------------- CLI


def test_the_cli_hashes_a_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))
    main(["hash"])
    hashed = capsys.readouterr().out.strip()
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, "correct horse battery staple")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{DEMO_PASSWORD}\n"))
    with pytest.raises(SystemExit):
        main(["hash"])
    main(["keygen"])
    assert SigningKey.from_pem(capsys.readouterr().out).kid
