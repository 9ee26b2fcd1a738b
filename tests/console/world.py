"""The console on fakes, signing in through routing's real built-in issuer, in process.

Routing runs on its fake case store with its issuer (RUAM_ENV=dev: the demo accounts); the
console reaches it, and intake on fakes, through ASGI transports keyed by port, as it
would over the network. A `Browser` is an httpx client that keeps the console's cookie and
follows the sign-in across the two sites by hand, as a browser does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from argon2 import PasswordHasher
from pydantic import SecretStr

from services.console.bootstrap import ConsoleService, create_service
from services.console.photos import JPEG, PREFIX, SCAN_PREFIX, Kept, cleaned, scan_of
from services.console.settings import ConsoleSettings
from services.console.upstream import Api
from services.routing.bootstrap import RoutingService
from services.routing.bootstrap import create_service as create_routing
from services.routing.identity import SigningKey
from services.routing.settings import RoutingSettings
from shared.audit import AuditTrail
from shared.auth import TokenVerifier
from shared.clock import FixedClock
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import NOW, received

ISSUER = "http://127.0.0.1:8002/oidc"
CONSOLE = "http://127.0.0.1:8006"
KEY = SigningKey.generate()
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class FakePhotos:
    """The console's file store in memory, cleaning and checking files as the real one does."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[bytes, str | None]] = {}
        self.media: dict[str, str] = {}

    async def keep(self, case_id: str, data: bytes) -> str:
        photo_id = f"p{len(self.kept) + 1}"
        self.kept[photo_id] = (cleaned(data), case_id)
        self.media[photo_id] = JPEG
        return PREFIX + photo_id

    async def keep_scan(self, data: bytes) -> str:
        kept, media_type = scan_of(data)
        scan_id = f"s{len(self.kept) + 1}"
        self.kept[scan_id], self.media[scan_id] = (kept, None), media_type
        return SCAN_PREFIX + scan_id

    async def link(self, ref: str, case_id: str) -> None:
        photo_id = ref.removeprefix(SCAN_PREFIX).removeprefix(PREFIX)
        self.kept[photo_id] = (self.kept[photo_id][0], case_id)

    async def get(self, photo_id: str) -> Kept | None:
        found = self.kept.get(photo_id)
        return Kept(found[0], found[1], self.media[photo_id]) if found else None


class Trail:
    """The audit trail's topic, in memory: what the console published on it, decoded; or,
    with `down`, a broker that cannot be written to."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.down = False

    async def publish_raw(self, topic: Any, key: str | None, value: bytes) -> None:
        await self.publish_all([(topic, key, value)])

    async def publish_all(self, messages: Any, *, parent: str | None = None) -> None:
        if self.down:
            raise OSError("the broker is away")
        for topic, _, value in messages:
            assert str(getattr(topic, "value", topic)).endswith("audit.trail")
            self.records.append(json.loads(value)["payload"])


class Ports(httpx.AsyncBaseTransport):
    """Requests to 127.0.0.1:<port> handed to the app serving that port."""

    def __init__(self, apps: dict[int, Any], *, network: bool = False) -> None:
        self.apps = {port: httpx.ASGITransport(app=app) for port, app in apps.items()}
        self.seen: list[httpx.Request] = []
        # Any other port over the network (a real identity provider), when asked for.
        self._network = httpx.AsyncHTTPTransport() if network else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        app = self.apps.get(request.url.port or 80)
        if app is None and self._network is not None:
            return await self._network.handle_async_request(request)
        if app is None:
            raise httpx.ConnectError(f"nothing listens on {request.url.port}", request=request)
        return await app.handle_async_request(request)


@dataclass
class World:
    routing: RoutingService
    console: ConsoleService
    ports: Ports
    repo: FakeCaseRepository
    photos: FakePhotos
    trail: Trail

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.ports, timeout=30)

    async def receive(self, case_id: str, **over: Any) -> None:
        await self.routing.handlers.on_case_received(received(case_id, **over))


class MemoryKeeper:
    """Sessions kept beyond one console process, in this test's memory: sealed as given."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[bytes, datetime]] = {}

    async def load(self, key: str) -> bytes | None:
        found = self.kept.get(key)
        return found[0] if found else None

    async def save(self, key: str, sealed: bytes, until: datetime) -> None:
        self.kept[key] = (sealed, until)

    async def delete(self, key: str) -> None:
        self.kept.pop(key, None)


def world(
    extra: dict[int, Any] | None = None,
    *,
    network: bool = False,
    keeper: MemoryKeeper | None = None,
    now: datetime = NOW,
    **console_settings: Any,
) -> World:
    repo = FakeCaseRepository()
    routing = create_routing(
        RoutingSettings(env="dev", oidc_issuer=ISSUER, oidc_signing_key=SecretStr(KEY.pem())),
        cases=repo,
        directories=StaticDirectories(),
        ranker=FakeRanker(),
        clock=FixedClock(now),
    )
    # argon2 at a cost a test can afford (the service uses argon2-cffi's defaults).
    for route in routing.api.routes:
        _cheapen(route)
    apps: dict[int, Any] = {8002: routing.asgi, **(extra or {})}
    ports = Ports(apps, network=network)
    settings = ConsoleSettings(
        **{"env": "dev", "oidc_issuer": ISSUER, **console_settings},
        public_base_url=CONSOLE,
        portal_public_base_url="https://sraphonthong.example",
        rate_limit_per_second=0,
    )

    def http() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=ports)

    photos = FakePhotos()
    trail = Trail()
    console = create_service(
        settings,
        api=Api(settings, httpx.AsyncClient(transport=ports)),
        oidc_http=http,
        now=lambda: now,
        photos=photos,
        keeper=keeper,
        audit=AuditTrail(trail, "console", FixedClock(now)),
    )
    ports.apps[8006] = httpx.ASGITransport(app=console.asgi)
    return World(routing, console, ports, repo, photos, trail)


def _cheapen(route: Any) -> None:
    """Routing's issuer hashes with argon2's default cost; the tests' with a cheap one."""
    endpoint = getattr(route, "handler", None)
    closure = getattr(endpoint, "__closure__", None) or ()
    for cell in closure:
        issuer = cell.cell_contents
        if type(issuer).__name__ == "Issuer":
            issuer._hasher = CHEAP


def issuer_of(w: World) -> Any:
    for route in w.routing.api.routes:
        for cell in getattr(getattr(route, "handler", None), "__closure__", None) or ():
            if type(cell.cell_contents).__name__ == "Issuer":
                return cell.cell_contents
    raise AssertionError("routing serves no issuer")


class Browser:
    """Cookies per host, redirects followed by hand (so the tests see each step)."""

    def __init__(self, w: World) -> None:
        self.client = httpx.AsyncClient(transport=w.ports, timeout=30, follow_redirects=False)
        self.last: httpx.Response | None = None

    async def get(self, url: str) -> httpx.Response:
        return await self._follow(await self.client.get(_abs(url)))

    async def post(self, url: str, data: dict[str, str], files: Any = None) -> httpx.Response:
        return await self._follow(await self.client.post(_abs(url), data=data, files=files))

    async def _follow(self, response: httpx.Response) -> httpx.Response:
        hops = 0
        self._loopback_is_secure()
        while response.status_code in (302, 303) and hops < 10:
            target = str(response.url.join(response.headers["location"]))
            response = await self.client.get(target)
            self._loopback_is_secure()
            hops += 1
        self.last = response
        return response

    def _loopback_is_secure(self) -> None:
        """Browsers count http://127.0.0.1 as a secure context and send it `Secure` cookies
        (Keycloak's sign-in cookies are); Python's cookie jar does not, so it is told."""
        for cookie in self.client.cookies.jar:
            if cookie.domain.startswith("127.0.0.1"):
                cookie.secure = False

    async def sign_in(self, username: str, password: str = "ruam-demo") -> httpx.Response:
        page = await self.get("/auth/login")
        assert "/oidc/authorize" in str(page.url), page.url
        return await self.post(
            str(page.url).split("?")[0],
            {**hidden(page.text), "username": username, "password": password},
        )

    def csrf(self) -> str:
        assert self.last is not None
        return hidden(self.last.text)["csrf"]


def _abs(url: str) -> str:
    return url if url.startswith("http") else CONSOLE + url


def hidden(page: str) -> dict[str, str]:
    """The hidden fields of a page's forms (the last value of a name wins)."""
    out = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page):
        out[unescape(name)] = unescape(value)
    return out


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def verifier(w: World) -> TokenVerifier:
    return TokenVerifier(ISSUER, "ruam", http=w.client)
