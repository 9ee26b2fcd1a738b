"""Sessions outlive a restart of the console: kept sealed (no usable token or cookie in the
store), found again by the cookie, gone at sign-out."""

from __future__ import annotations

import re

import httpx
from pydantic import SecretStr

from services.console.bootstrap import create_service
from services.console.sessions import COOKIE
from services.console.upstream import Api
from tests.console.world import Browser, MemoryKeeper, World, world
from tests.routing.unit.test_handlers import NOW

JWT = re.compile(rb"eyJ[\w-]*\.[\w-]*\.")


def restart(w: World, keeper: MemoryKeeper, **settings: object) -> None:
    """A new console process in the old one's place: nothing of its memory is left."""
    old = w.console.settings
    fresh = old.model_copy(update=settings) if settings else old
    console = create_service(
        fresh,
        api=Api(fresh, httpx.AsyncClient(transport=w.ports)),
        oidc_http=lambda: httpx.AsyncClient(transport=w.ports),
        now=lambda: NOW,
        photos=w.photos,
        keeper=keeper,
    )
    w.ports.apps[8006] = httpx.ASGITransport(app=console.asgi)
    w.console = console


async def test_a_restart_does_not_sign_anyone_out() -> None:
    keeper = MemoryKeeper()
    w = world(keeper=keeper)
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    assert (await browser.get("/queue")).status_code == 200
    ((sealed, _until),) = keeper.kept.values()
    # Sealed: neither the access token nor the session id can be read from the store.
    cookie = browser.client.cookies[COOKIE]
    sid = cookie.split(".")[0]
    # A JWT is three base64url parts joined by dots: none in the sealed bytes. ("eyJ" alone,
    # a JWT's first letters, turns up in ciphertext by chance, about one run in 650.)
    assert sid.encode() not in sealed and JWT.search(sealed) is None
    assert all(sid not in key for key in keeper.kept)

    restart(w, keeper)
    page = await browser.get("/queue")
    assert page.status_code == 200 and "/auth/login" not in str(page.url)
    assert "ออกจากระบบ" in page.text  # signed in as before

    # Signed out: gone from the store too; after another restart the cookie finds nothing.
    await browser.post("/auth/logout", {"csrf": browser.csrf()})
    assert keeper.kept == {}
    restart(w, keeper)
    again = await browser.get("/queue")
    assert "/oidc/authorize" in str(again.url)


async def test_a_session_sealed_under_another_secret_is_not_opened() -> None:
    keeper = MemoryKeeper()
    w = world(keeper=keeper)
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    assert keeper.kept
    # The cookie's key is the session secret too: a new secret refuses the old cookie, and
    # the kept session (sealed under the old one) would not open either.
    restart(w, keeper, session_secret=SecretStr("another-secret-of-at-least-32-characters!"))
    page = await browser.get("/queue")
    assert "/oidc/authorize" in str(page.url)


async def test_without_a_keeper_sessions_live_in_memory() -> None:
    w = world()
    browser = Browser(w)
    await browser.sign_in("eng-anan")
    restart(w, MemoryKeeper())
    assert "/oidc/authorize" in str((await browser.get("/queue")).url)
