"""The endpoint × role matrix, row by row: every endpoint of every service, called anonymously,
with a bad token of each kind, and with a good token of every role.

A guarded endpoint answers 401 without a valid token and 403 to a role it does not name; a
role it names gets past the door (whatever the handler then says: 404 for a made-up id, 422
for an empty body). The README's table must be what the code enforces.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shared.roles import Role
from tests.access_matrix import Row, markdown, rows, services
from tests.signing import AUDIENCE, ISSUER, TEST_IDP, sign_in

BUILT = {name: sign_in(service) for name, service in services().items()}
ROWS = rows(BUILT)
GUARDED = [r for r in ROWS if r.access.public is None]
README = Path(__file__).resolve().parents[3] / "README.md"

# Path parameters of the routes, filled with values that exist nowhere.
PARAMS = {
    "case_id": "SPT-2569-999999",
    "format": "json",
    "kind": "timeline",
    "chunk:int": "0",
    "fiscal_year": "2569",
    "project_id": "NO-SUCH-PROJECT",
    "letter_id": "no-such-letter",
    "token": "no-such-token",
    "campaign_id": "no-such-campaign",
    "service_code": "road",
    "request_id": "SPT-2569-999999",
    "rest:path": "nothing/here",
    "photo_id": "no-such-photo",
    "message_id": "no-such-message",
    "quarter": "2",
    "department": "engineering",
    "action_id": "no-such-action",
}


def url(path: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: PARAMS[m.group(1)], path)


async def call(row: Row, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=BUILT[row.service].asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.request(row.method, url(row.path), json={}, headers=headers or {})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "eng-anan",
        "iat": now,
        "exp": now + 600,
        "org_id": "sraphonthong",
        "roles": [r.value for r in Role],
        "department": "engineering",
        "officer_id": "eng-anan",
    }
    return {**base, **over}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Tokens that hold every role but must each be refused (401) everywhere.
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
BAD_TOKENS = {
    "expired": TEST_IDP.token(*Role, department="engineering", exp=int(time.time()) - 120),
    "wrong audience": TEST_IDP.token(*Role, department="engineering", aud="someone-else"),
    "wrong issuer": TEST_IDP.token(*Role, department="engineering", iss="https://evil.example"),
    "forged": jwt.encode(claims(), OTHER_KEY, algorithm="ES256", headers={"kid": "test-1"}),
    "alg none": (
        f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}"
        f".{b64(json.dumps(claims()).encode())}."
    ),
    "no org_id": TEST_IDP.token(*Role, department="engineering", org_id=""),
}


def test_every_route_of_every_service_declares_who_may_call_it() -> None:
    assert {r.service for r in ROWS} == {
        "intake",
        "routing",
        "survey",
        "compliance",
        "portal",
        "console",
        "insight",
    }
    assert len(GUARDED) >= 20
    # Nothing that changes state or shows personal data is open without a reason of its own.
    for row in ROWS:
        if row.access.public is not None:
            assert row.access.public.strip(), row


def test_the_readme_shows_the_matrix_the_code_enforces() -> None:
    assert markdown(ROWS) in README.read_text(encoding="utf-8"), (
        "README's access matrix is out of date: paste `RUAM_ENV=dev python -m tests.access_matrix`"
    )


@pytest.mark.parametrize("row", GUARDED, ids=lambda r: f"{r.service} {r.method} {r.path}")
async def test_a_guarded_endpoint_answers_every_caller_as_the_matrix_says(row: Row) -> None:
    anonymous = await call(row)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    for what, token in BAD_TOKENS.items():
        r = await call(row, bearer(token))
        assert r.status_code == 401, f"{what}: {r.status_code} {r.text}"
    for role in Role:
        headers = TEST_IDP.headers(role, department="engineering", officer_id="eng-anan")
        r = await call(row, headers)
        if role in row.access.roles:
            assert r.status_code not in (401, 403), f"{role}: {r.status_code} {r.text}"
        else:
            assert r.status_code == 403, f"{role}: {r.status_code} {r.text}"
