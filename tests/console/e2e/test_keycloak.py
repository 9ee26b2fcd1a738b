"""The console against a real Keycloak (deploy/local/keycloak.py, the realm's `ruam-console`
client): the same code as against the built-in issuer, found by discovery only.

The console and routing run in process (on fakes); Keycloak is a real server on the
network, and the "browser" follows its login form as a person would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlsplit

import httpx
import pytest

from deploy.local import keycloak
from shared.auth import TokenVerifier
from tests.console.world import CONSOLE, Browser, world

pytestmark = pytest.mark.e2e

CASE = "SPT-2569-000001"


@pytest.fixture(scope="module")
def keycloak_server() -> Iterator[keycloak.Keycloak]:
    with keycloak.running() as server:
        yield server


def _network() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10.0)


async def test_the_console_signs_in_and_out_through_keycloak(
    keycloak_server: keycloak.Keycloak,
) -> None:
    issuer = keycloak_server.issuer
    w = world(network=True, oidc_issuer=issuer)
    # Routing trusts the SAO's provider, as it does once RUAM_OIDC_ISSUER names it.
    w.routing.api.state.verifier = TokenVerifier(issuer, "ruam", http=_network)
    await w.receive(CASE, location={"village_no": 1})  # หมู่ 1: eng-somchai's
    browser = Browser(w)

    login = await browser.get("/auth/login")
    assert urlsplit(str(login.url)).port == keycloak_server.port, login.url
    query = dict(login.url.params)
    assert query["code_challenge_method"] == "S256" and query["client_id"] == "ruam-console"
    form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', login.text)
    assert form is not None, login.text[:2000]
    page = await browser.post(
        unescape(form.group(1)),
        {"username": "eng-somchai", "password": keycloak.TEST_PASSWORD, "credentialId": ""},
    )
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    assert str(page.url) == f"{CONSOLE}/queue", (page.url, words[-1500:])
    assert CASE in page.text and "นายสมชาย ใจดี" in page.text

    # Keycloak publishes end_session_endpoint: signing out ends its session too.
    done = await browser.post("/auth/logout", {"csrf": browser.csrf()})
    assert str(done.url) == f"{CONSOLE}/signed-out", (done.url, done.text[:500])
    again = await browser.get("/queue")
    assert urlsplit(str(again.url)).port == keycloak_server.port  # asked to sign in again
