"""Bearer-token verification (shared.auth) against an issuer made here: its discovery
document and JWKS are served through httpx.MockTransport, its tokens signed with keys the test
holds, so every way a token can be wrong is tried against the real PyJWT checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.auth import (
    Forbidden,
    Principal,
    TokenVerifier,
    Unauthorized,
    principal,
    principal_from_claims,
    require,
    verifier_for,
)
from shared.http import exception_handlers
from shared.roles import Role
from shared.settings import ServiceSettings

ISSUER = "https://idp.example/realms/sao"
AUDIENCE = "ruam"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


RSA_KEY = _rsa()
OTHER_RSA_KEY = _rsa()
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid, "use": "sig"}


class FakeIssuer:
    """Discovery and JWKS of an identity provider; counts how often it is asked."""

    def __init__(self, *keys: dict[str, Any], issuer: str = ISSUER) -> None:
        self.keys = list(keys)
        self.issuer = issuer
        self.jwks_requests = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200, json={"issuer": self.issuer, "jwks_uri": "https://idp.example/certs"}
            )
        if request.url.path == "/certs":
            self.jwks_requests += 1
            return httpx.Response(200, json={"keys": self.keys})
        return httpx.Response(404)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "eng-somchai",
        "iat": now,
        "exp": now + 900,
        "org_id": "sraphonthong",
        "department": "engineering",
        "officer_id": "eng-somchai",
        "name": "นายสมชาย ใจดี",
        "roles": ["officer"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    payload: dict[str, Any],
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = RSA_KEY,
    kid: str | None = "rsa-1",
) -> str:
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token PyJWT would refuse to make: `alg: none`, or HMAC keyed with a public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


@pytest.fixture
def idp() -> FakeIssuer:
    return FakeIssuer(jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(idp: FakeIssuer, clock: Clock) -> TokenVerifier:
    return TokenVerifier(ISSUER, AUDIENCE, http=idp.client, monotonic=clock)


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401 and caught.value.token_given
    return caught.value.message


# --------------------------------------------------------------------------- accepted


async def test_a_valid_rs256_token_gives_its_principal(verifier: TokenVerifier) -> None:
    who = await verifier.verify(sign(claims()))
    assert who == Principal(
        subject="eng-somchai",
        org_id="sraphonthong",
        roles=frozenset({Role.OFFICER}),
        department="engineering",
        officer_id="eng-somchai",
        name="นายสมชาย ใจดี",
    )
    assert who.has(Role.OFFICER, Role.HEAD) and not who.has(Role.EXECUTIVE)


async def test_a_valid_es256_token_is_accepted_and_the_keys_are_fetched_once(
    verifier: TokenVerifier, idp: FakeIssuer
) -> None:
    for _ in range(3):
        who = await verifier.verify(sign(claims(roles=["head"]), EC_KEY, "ec-1"))
        assert who.roles == {Role.HEAD}
    await verifier.verify(sign(claims()))
    assert idp.jwks_requests == 1


async def test_a_token_expired_within_the_leeway_still_passes(verifier: TokenVerifier) -> None:
    now = int(time.time())
    await verifier.verify(sign(claims(iat=now - 900, exp=now - 10)))


# --------------------------------------------------------------------------- refused


async def test_an_expired_token_is_refused(verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert "expired" in await refused(verifier, sign(claims(iat=now - 2000, exp=now - 120)))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_a_token_not_yet_valid_is_refused(verifier: TokenVerifier, claim: str) -> None:
    later = int(time.time()) + 600
    token = sign(claims(**{claim: later, "exp": later + 900}))
    assert "not valid yet" in await refused(verifier, token)


async def test_a_forged_signature_is_refused(verifier: TokenVerifier) -> None:
    # Signed by another key under the kid of the published one.
    assert "does not verify" in await refused(verifier, sign(claims(), OTHER_RSA_KEY, "rsa-1"))
    # A published token with its claims changed afterwards.
    header, _, signature = sign(claims()).split(".")
    raised = b64(json.dumps(claims(roles=["executive"])).encode())
    assert "does not verify" in await refused(verifier, f"{header}.{raised}.{signature}")


async def test_alg_none_is_refused_without_asking_the_issuer(
    verifier: TokenVerifier, idp: FakeIssuer
) -> None:
    for alg in ("none", "None", "NONE"):
        token = handmade({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, claims(), None)
        assert "not accepted" in await refused(verifier, token)
    assert idp.jwks_requests == 0


async def test_hs256_keyed_with_the_public_key_is_refused(verifier: TokenVerifier) -> None:
    """The classic key-confusion attack: HMAC with the issuer's public key as the secret."""
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, json.dumps(jwk(RSA_KEY, "rsa-1")).encode()):
        token = handmade({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), secret)
        assert "not accepted" in await refused(verifier, token)


async def test_a_symmetric_key_in_the_jwks_is_never_used(clock: Clock) -> None:
    secret = b"published-symmetric-key-0123456789abcdef"
    idp = FakeIssuer(jwk(RSA_KEY, "rsa-1"), {"kty": "oct", "kid": "sym", "k": b64(secret)})
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp.client, monotonic=clock)
    token = handmade({"alg": "HS256", "kid": "sym"}, claims(), secret)
    await refused(verifier, token)
    # And an RS256 token naming the symmetric key's kid finds no key to be checked against.
    assert "does not publish" in await refused(verifier, sign(claims(), RSA_KEY, "sym"))


async def test_a_token_for_another_audience_is_refused(verifier: TokenVerifier) -> None:
    assert "not meant for" in await refused(verifier, sign(claims(aud="account")))
    assert "not meant for" in await refused(verifier, sign(claims(aud=["account", "other"])))
    # An audience list that includes ours is ours (Keycloak adds "account").
    await verifier.verify(sign(claims(aud=["account", AUDIENCE])))


async def test_a_token_of_another_issuer_is_refused(verifier: TokenVerifier) -> None:
    token = sign(claims(iss="https://idp.example/realms/other"))
    assert "not issued by" in await refused(verifier, token)


@pytest.mark.parametrize("claim", ["sub", "exp", "iss", "aud"])
async def test_a_token_missing_a_required_claim_is_refused(
    verifier: TokenVerifier, claim: str
) -> None:
    assert claim in await refused(verifier, sign(claims(**{claim: None})))


async def test_a_token_without_an_organisation_is_refused(verifier: TokenVerifier) -> None:
    assert "org_id" in await refused(verifier, sign(claims(org_id=None)))


async def test_a_keycloak_id_token_is_not_an_access_token(verifier: TokenVerifier) -> None:
    assert "not an access token" in await refused(verifier, sign(claims(typ="ID")))
    await verifier.verify(sign(claims(typ="Bearer")))


async def test_garbage_is_refused(verifier: TokenVerifier) -> None:
    for token in ("", "abc", "a.b.c", "x" * 20_000):
        await refused(verifier, token)


# --------------------------------------------------------------------------- keys


async def test_an_unknown_kid_refetches_the_keys_at_most_once_in_a_while(
    verifier: TokenVerifier, idp: FakeIssuer, clock: Clock
) -> None:
    await verifier.verify(sign(claims()))
    assert idp.jwks_requests == 1
    # The provider rotates in a new key; a token of it arrives soon after our fetch.
    rotated = ec.generate_private_key(ec.SECP256R1())
    idp.keys.append(jwk(rotated, "ec-2"))
    clock.now += 31
    await verifier.verify(sign(claims(), rotated, "ec-2"))
    assert idp.jwks_requests == 2
    # Made-up kids do not make us ask again within 30 s...
    for n in range(5):
        clock.now += 1
        assert "does not publish" in await refused(verifier, sign(claims(), rotated, f"x{n}"))
    assert idp.jwks_requests == 2
    # ...and after that, once.
    clock.now += 30
    await refused(verifier, sign(claims(), rotated, "x9"))
    await refused(verifier, sign(claims(), rotated, "x9"))
    assert idp.jwks_requests == 3


async def test_keys_are_looked_at_again_after_an_hour(
    verifier: TokenVerifier, idp: FakeIssuer, clock: Clock
) -> None:
    await verifier.verify(sign(claims()))
    idp.keys = [jwk(EC_KEY, "ec-1")]  # the RSA key withdrawn
    clock.now += 3601
    await refused(verifier, sign(claims()))
    assert idp.jwks_requests == 2


async def test_keys_of_other_uses_and_algorithms_are_skipped(clock: Clock) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    encryption = {**jwk(_rsa(), "enc-1"), "use": "enc", "alg": "RSA-OAEP"}
    idp = FakeIssuer(encryption, jwk(p384, "p384"), jwk(RSA_KEY, "rsa-1"))
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp.client, monotonic=clock)
    await verifier.verify(sign(claims()))
    token = jwt.encode(claims(), p384, algorithm="ES384", headers={"kid": "p384"})
    assert "not accepted" in await refused(verifier, token)


async def test_a_token_without_kid_is_accepted_only_when_one_key_fits(clock: Clock) -> None:
    single = FakeIssuer(jwk(RSA_KEY, "rsa-1"))
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=single.client, monotonic=clock)
    await verifier.verify(sign(claims(), kid=None))
    two = FakeIssuer(jwk(RSA_KEY, "rsa-1"), jwk(OTHER_RSA_KEY, "rsa-2"))
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=two.client, monotonic=clock)
    await refused(verifier, sign(claims(), kid=None))


async def test_an_unreachable_or_wrong_issuer_is_a_503_not_a_401(clock: Clock) -> None:
    from shared.http import ApiError

    idp = FakeIssuer(jwk(RSA_KEY, "rsa-1"))
    idp.down = True
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp.client, monotonic=clock)
    with pytest.raises(ApiError) as caught:
        await verifier.verify(sign(claims()))
    assert caught.value.status == 503 and caught.value.retry_after
    idp.down = False
    clock.now += 3
    await verifier.verify(sign(claims()))  # it recovers by itself
    # A discovery document for another issuer is not trusted.
    impostor = FakeIssuer(jwk(RSA_KEY, "rsa-1"), issuer="https://evil.example")
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=impostor.client, monotonic=clock)
    with pytest.raises(ApiError) as caught:
        await verifier.verify(sign(claims()))
    assert caught.value.status == 503


# --------------------------------------------------------------------------- claims


def test_keycloak_claims_map_to_roles() -> None:
    keycloak = {
        "sub": "f3a1c1de-8d4b-4c55-9d7e-0b8f2d1f6a11",
        "typ": "Bearer",
        "preferred_username": "eng-head",
        "name": "นายสุริยา วงศ์คำ",
        "org_id": "sraphonthong",
        "department": "engineering",
        "realm_access": {"roles": ["offline_access", "uma_authorization", "head"]},
        "resource_access": {
            AUDIENCE: {"roles": ["auditor"]},
            "account": {"roles": ["manage-account", "executive"]},  # another client's
        },
    }
    who = principal_from_claims(keycloak, AUDIENCE)
    assert who.roles == {Role.HEAD, Role.AUDITOR}
    assert who.officer_id == "eng-head" and who.department == "engineering"
    assert who.subject == keycloak["sub"] and who.name == "นายสุริยา วงศ์คำ"
    # An explicit officer_id claim wins over the user name.
    assert principal_from_claims({**keycloak, "officer_id": "x"}, AUDIENCE).officer_id == "x"


async def test_keycloak_tokens_verify_end_to_end(verifier: TokenVerifier) -> None:
    token = sign(
        claims(
            roles=None,
            officer_id=None,
            aud=["account", AUDIENCE],
            preferred_username="palad",
            realm_access={"roles": ["executive", "default-roles-sao"]},
        )
    )
    who = await verifier.verify(token)
    assert who.roles == {Role.EXECUTIVE} and who.officer_id == "palad"


def test_unknown_roles_are_ignored() -> None:
    who = principal_from_claims(
        {"sub": "s", "org_id": "o", "roles": ["officer", "superuser", "admin", 7, None]}, AUDIENCE
    )
    assert who.roles == {Role.OFFICER}
    # A top-level roles list is the only source when present (Keycloak's are not mixed in).
    mixed = {"sub": "s", "org_id": "o", "roles": [], "realm_access": {"roles": ["executive"]}}
    assert principal_from_claims(mixed, AUDIENCE).roles == frozenset()
    broken = {"sub": "s", "org_id": "o", "realm_access": "executive", "resource_access": []}
    assert principal_from_claims(broken, AUDIENCE).roles == frozenset()


def test_verifier_for_reads_the_settings() -> None:
    settings = ServiceSettings(oidc_issuer="https://kc.example/realms/x", oidc_audience="api")
    made = verifier_for(settings)
    assert (made.issuer, made.audience) == ("https://kc.example/realms/x", "api")
    assert made.discovery_url == "https://kc.example/realms/x/.well-known/openid-configuration"
    default = verifier_for(ServiceSettings())
    assert (default.issuer, default.audience) == ("http://127.0.0.1:8002/oidc", "ruam")


# --------------------------------------------------------------------------- Starlette


@pytest.fixture
def app(verifier: TokenVerifier) -> Starlette:
    async def whoami(request: Request) -> Response:
        who = await principal(request)
        again = await principal(request)  # verified once, remembered for the request
        assert again is who
        return JSONResponse({"subject": who.subject, "roles": sorted(who.roles)})

    async def heads_only(request: Request) -> Response:
        who = await require(request, Role.HEAD, Role.EXECUTIVE)
        return JSONResponse({"subject": who.subject})

    api = Starlette(
        routes=[Route("/whoami", whoami), Route("/heads", heads_only)],
        exception_handlers=exception_handlers({}),
    )
    api.state.verifier = verifier
    return api


async def test_the_starlette_helpers_answer_401_and_403(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        r = await client.get("/whoami")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"] == "unauthorized"
        r = await client.get("/whoami", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await client.get("/whoami", headers={"Authorization": "Bearer nonsense"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'

        officer = {"Authorization": f"Bearer {sign(claims())}"}
        r = await client.get("/whoami", headers=officer)
        assert r.status_code == 200
        assert r.json() == {"subject": "eng-somchai", "roles": ["officer"]}
        r = await client.get("/heads", headers=officer)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        head = {"Authorization": f"bearer {sign(claims(roles=['head']))}"}
        assert (await client.get("/heads", headers=head)).status_code == 200


def test_forbidden_is_a_403() -> None:
    assert Forbidden("no").response().status_code == 403
