"""Signing in, in tests: an identity provider of the tests' own (an ES256 key, its discovery
document and JWKS served through httpx.MockTransport), so services built in-process verify
real signed tokens with the real `shared.auth` checks, and no test depends on routing's
issuer running.

    sign_in(service)                        # its verifier trusts TEST_IDP
    client.get("/v1/cases", headers=as_(Role.HEAD, department="engineering"))
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared.auth import TokenVerifier
from shared.roles import Role

ISSUER = "https://idp.test/realms/sraphonthong"
AUDIENCE = "ruam"
ORG = "sraphonthong"


class TestIdentityProvider:
    __test__ = False  # not a test class, despite its name

    def __init__(self, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = ec.generate_private_key(ec.SECP256R1())
        public = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwks = {"keys": [{**public, "kid": "test-1", "use": "sig", "alg": "ES256"}]}

    def _handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200, json={"issuer": self.issuer, "jwks_uri": f"{self.issuer}/certs"}
            )
        if request.url.path.endswith("/certs"):
            return httpx.Response(200, json=self.jwks)
        return httpx.Response(404)

    def verifier(self) -> TokenVerifier:
        def http() -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=httpx.MockTransport(self._handler))

        return TokenVerifier(self.issuer, self.audience, http=http)

    def token(
        self,
        *roles: Role,
        department: str | None = None,
        officer_id: str | None = None,
        subject: str | None = None,
        org_id: str = ORG,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject or officer_id or f"test-{'-'.join(r.value for r in roles) or 'none'}",
            "iat": now,
            "exp": now + 86_400,  # module-level headers outlive a long test session
            "jti": uuid.uuid4().hex,
            "org_id": org_id,
            "roles": [r.value for r in roles],
        }
        if department is not None:
            payload["department"] = department
        if officer_id is not None:
            payload["officer_id"] = officer_id
        payload.update(claims)
        return jwt.encode(payload, self.key, algorithm="ES256", headers={"kid": "test-1"})

    def headers(self, *roles: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, **claims)}"}


TEST_IDP = TestIdentityProvider()


def as_(*roles: Role, **claims: Any) -> dict[str, str]:
    """Headers of a request signed in with `roles` (and `department=`, `officer_id=`, ...)."""
    return TEST_IDP.headers(*roles, **claims)


# The everyday callers of the tests, as the demo directory has them.
OPERATOR = as_(Role.OPERATOR, subject="ruam-scripts")
EXECUTIVE = as_(Role.EXECUTIVE, officer_id="palad", department="office")
AUDITOR = as_(Role.AUDITOR, subject="auditor")
PLANNER = as_(Role.PLANNER, subject="planner")


def sign_in(service: Any) -> Any:
    """`service` (a `shared.service.Service`) trusts TEST_IDP's tokens; returns it."""
    service.api.state.verifier = TEST_IDP.verifier()
    return service
