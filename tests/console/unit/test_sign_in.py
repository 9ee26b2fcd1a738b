"""Signing in to the console: the authorization code flow with PKCE against routing's real
built-in issuer, in process, and the session it leaves behind."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from services.console.oidc import pkce_pair
from services.console.sessions import COOKIE
from services.routing.identity import CONSOLE_CLIENT
from shared.auth import TokenVerifier, Unauthorized
from tests.console.world import CONSOLE, ISSUER, Browser, hidden, issuer_of, query_of, world

REDIRECT = f"{CONSOLE}/auth/callback"


async def _code(client: httpx.AsyncClient, challenge: str, redirect: str = REDIRECT) -> str:
    """A code from the sign-in form, as the browser gets it."""
    params = {
        "response_type": "code",
        "client_id": CONSOLE_CLIENT,
        "redirect_uri": redirect,
        "state": "s-1",
        "nonce": "n-1",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = await client.get(f"{ISSUER}/authorize", params=params)
    assert page.status_code == 200, page.text
    assert 'lang="th"' in page.text and '<label for="password">' in page.text
    form = {**hidden(page.text), "username": "eng-anan", "password": "ruam-demo"}
    answer = await client.post(f"{ISSUER}/authorize", data=form)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = query_of(location)
    assert query["state"] == "s-1" and query["iss"] == ISSUER
    return query["code"]


async def _exchange(
    client: httpx.AsyncClient, code: str, verifier: str, redirect: str = REDIRECT
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": CONSOLE_CLIENT,
        "code": code,
        "redirect_uri": redirect,
        "code_verifier": verifier,
    }
    return await client.post(f"{ISSUER}/token", data=form)


async def test_the_discovery_document_advertises_the_code_flow_with_s256() -> None:
    w = world()
    async with w.client() as client:
        doc = (await client.get(f"{ISSUER}/.well-known/openid-configuration")).json()
    assert doc["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert "authorization_code" in doc["grant_types_supported"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]


async def test_a_code_with_its_verifier_gives_tokens_once() -> None:
    w = world()
    verifier, challenge = pkce_pair()
    async with w.client() as client:
        code = await _code(client, challenge)
        first = await _exchange(client, code, verifier)
        assert first.status_code == 200, first.text
        body = first.json()
        assert {"access_token", "id_token", "refresh_token"} <= set(body)
        assert first.headers["cache-control"] == "no-store"
        again = await _exchange(client, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_a_wrong_verifier_is_refused_and_spends_the_code() -> None:
    w = world()
    verifier, challenge = pkce_pair()
    other, _ = pkce_pair()
    async with w.client() as client:
        code = await _code(client, challenge)
        wrong = await _exchange(client, code, other)
        assert wrong.status_code == 400
        assert "code_verifier" in wrong.json()["error_description"]
        # Whoever tried the wrong verifier, the code is gone for everyone.
        assert (await _exchange(client, code, verifier)).status_code == 400


async def test_a_code_is_refused_at_another_redirect_uri() -> None:
    w = world()
    verifier, challenge = pkce_pair()
    async with w.client() as client:
        code = await _code(client, challenge)
        r = await _exchange(client, code, verifier, redirect="http://127.0.0.1:8006/elsewhere")
    assert r.status_code == 400 and "redirect_uri" in r.json()["error_description"]


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": "https://evil.example/auth/callback"},
        {"client_id": "someone-else"},
    ],
)
async def test_an_unregistered_client_or_redirect_is_never_redirected_to(
    change: dict[str, str],
) -> None:
    w = world()
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": CONSOLE_CLIENT,
        "redirect_uri": REDIRECT,
        "state": "s",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **change,
    }
    async with w.client() as client:
        r = await client.get(f"{ISSUER}/authorize", params=params)
    assert r.status_code == 400 and "location" not in r.headers
    assert "evil.example" not in r.text


async def test_plain_pkce_or_none_is_refused_back_to_the_client() -> None:
    w = world()
    params = {
        "response_type": "code",
        "client_id": CONSOLE_CLIENT,
        "redirect_uri": REDIRECT,
        "state": "s",
        "scope": "openid",
        "code_challenge": "x" * 43,
        "code_challenge_method": "plain",
    }
    async with w.client() as client:
        r = await client.get(f"{ISSUER}/authorize", params=params)
    assert r.status_code == 303
    assert query_of(r.headers["location"])["error"] == "invalid_request"


async def test_a_wrong_password_shows_the_form_again_in_thai() -> None:
    w = world()
    _, challenge = pkce_pair()
    async with w.client() as client:
        page = await client.get(
            f"{ISSUER}/authorize",
            params={
                "response_type": "code",
                "client_id": CONSOLE_CLIENT,
                "redirect_uri": REDIRECT,
                "state": "s",
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        r = await client.post(
            f"{ISSUER}/authorize",
            data={**hidden(page.text), "username": "eng-anan", "password": "wrong"},
        )
    assert r.status_code == 401 and "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in r.text
    assert r.headers["x-frame-options"] == "DENY"


async def test_the_console_signs_in_and_keeps_the_tokens_on_the_server() -> None:
    w = world()
    await w.receive("SPT-2569-000001", location={"village_no": 5})
    browser = Browser(w)
    page = await browser.sign_in("eng-anan")
    assert page.status_code == 200 and str(page.url) == f"{CONSOLE}/queue"
    assert "SPT-2569-000001" in page.text
    cookies = [c for c in browser.client.cookies.jar if c.name == COOKIE]
    assert len(cookies) == 1
    cookie = cookies[0]
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite", "").lower() == "lax"
    # Only an id and its signature: no token reaches the browser.
    assert cookie.value is not None and "eyJ" not in cookie.value
    assert "eyJ" not in page.text


async def test_a_callback_with_an_unknown_state_or_a_forged_cookie_signs_nobody_in() -> None:
    w = world()
    browser = Browser(w)
    r = await browser.get("/auth/callback?code=abc&state=never-issued")
    assert r.status_code == 400 and "เข้าสู่ระบบไม่สำเร็จ" in r.text
    browser.client.cookies.set(COOKIE, "made-up.0000", domain="127.0.0.1")
    queue = await browser.get("/queue")
    assert urlsplit(str(queue.url)).path == "/oidc/authorize"


async def test_an_expired_access_token_is_renewed_with_the_refresh_token() -> None:
    clock = [1_000_000.0]
    w = world()
    w.console.console.sessions._now = lambda: clock[0]
    await w.receive("SPT-2569-000001", location={"village_no": 5})
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    session = next(iter(w.console.console.sessions._sessions.values()))
    assert session.tokens is not None
    before = session.tokens.access_token
    clock[0] += 899  # within the renewal margin of a 900-second token, not idle for long
    page = await browser.get("/queue")
    assert str(page.url) == f"{CONSOLE}/queue"
    assert session.tokens.access_token != before


async def test_without_a_refresh_token_an_expired_session_signs_in_again() -> None:
    clock = [1_000_000.0]
    w = world()
    w.console.console.sessions._now = lambda: clock[0]
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    session = next(iter(w.console.console.sessions._sessions.values()))
    assert session.tokens is not None
    session.tokens.refresh_token = None
    clock[0] += 1000
    r = await browser.get("/queue")
    assert urlsplit(str(r.url)).path == "/oidc/authorize"


async def test_sign_out_needs_the_csrf_token_and_ends_the_session() -> None:
    w = world()
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    csrf = browser.csrf()
    refused = await browser.post("/auth/logout", {"csrf": "not-it"})
    assert refused.status_code == 403
    assert str((await browser.get("/me")).url) == f"{CONSOLE}/me"
    done = await browser.post("/auth/logout", {"csrf": csrf})
    assert str(done.url) == f"{CONSOLE}/signed-out"
    again = await browser.get("/me")
    assert urlsplit(str(again.url)).path == "/oidc/authorize"


async def test_issued_codes_are_bounded_and_expire() -> None:
    w = world()
    issuer = issuer_of(w)
    now = [1000.0]
    issuer._now = lambda: now[0]
    verifier, challenge = pkce_pair()
    asked = issuer.authorize_request(
        {
            "response_type": "code",
            "client_id": CONSOLE_CLIENT,
            "redirect_uri": REDIRECT,
            "state": "s",
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    account = await issuer.authenticate("eng-anan", "ruam-demo")
    code = issuer.issue_code(account, asked)
    now[0] += 61
    with pytest.raises(Exception, match="expired"):
        issuer.code_grant(CONSOLE_CLIENT, code, REDIRECT, verifier)


async def test_healthz_answers_by_the_identity_provider_and_metrics_are_served() -> None:
    w = world()
    async with w.client() as client:
        ok = await client.get(f"{CONSOLE}/healthz")
        assert ok.status_code == 200 and ok.json()["checks"] == {"oidc": "ok"}
        metrics = await client.get(f"{CONSOLE}/metrics")
        assert metrics.status_code == 200
        del w.ports.apps[8002]  # the issuer gone
        w.console.console.oidc._config = None
        down = await client.get(f"{CONSOLE}/healthz")
    assert down.status_code == 503 and down.json()["checks"] == {"oidc": "down"}
    assert int(down.headers["retry-after"]) >= 1  # 503 means one thing: try again


async def test_a_refresh_token_is_no_access_token_for_the_services() -> None:
    w = world()
    verifier, challenge = pkce_pair()
    async with w.client() as client:
        code = await _code(client, challenge)
        body = (await _exchange(client, code, verifier)).json()
    services = TokenVerifier(ISSUER, "ruam", http=w.client)
    assert (await services.verify(body["access_token"])).subject == "eng-anan"
    with pytest.raises(Unauthorized):
        await services.verify(body["refresh_token"])
    with pytest.raises(Unauthorized):
        await services.verify(body["id_token"])


async def test_an_unreachable_provider_is_a_thai_page_not_an_error() -> None:
    w = world()
    del w.ports.apps[8002]
    browser = Browser(w)
    r = await browser.get("/auth/login")
    assert r.status_code == 400 and "เข้าสู่ระบบไม่สำเร็จ" in r.text


async def test_a_provider_gone_at_renewal_sends_the_person_to_sign_in_again() -> None:
    clock = [1_000_000.0]
    w = world()
    w.console.console.sessions._now = lambda: clock[0]
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    routing = w.ports.apps.pop(8002)
    clock[0] += 899
    r = await browser.client.get(f"{CONSOLE}/queue")
    assert r.status_code == 303 and r.headers["location"].startswith("/auth/login")
    w.ports.apps[8002] = routing
