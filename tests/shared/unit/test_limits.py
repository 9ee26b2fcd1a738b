"""The shared per-client rate limit: a token bucket per client, 429 + Retry-After beyond it,
bounded memory, and who counts as one client (known api_key, bearer token, address)."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.http import JSON, read_body
from shared.limits import Identify, RateLimited, TokenBucket, limit, networks, rate_limited
from shared.roles import Role
from shared.settings import ServiceSettings
from tests.signing import TEST_IDP


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)  # one token comes back in 1/rate s
    assert bucket.take("b") == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0
    clock.now += 3600  # refills up to the burst, never beyond
    assert [bucket.take("a") for _ in range(4)][-1] > 0


def test_memory_is_bounded_and_a_forgotten_client_starts_full() -> None:
    clock = Clock()
    bucket = TokenBucket(0.001, 1, clients=100, clock=clock)
    assert bucket.take("first") == 0.0
    assert bucket.take("first") > 0
    for n in range(100):  # a hundred newer clients push the first one out
        bucket.take(f"c{n}")
    assert len(bucket._buckets._items) == 100
    assert bucket.take("first") == 0.0


def test_a_bucket_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 10)
    with pytest.raises(ValueError):
        TokenBucket(1.0, 0)


# ------------------------------------------------------------------------- over HTTP

KEY = "partner-key"


async def echo(request: Request) -> Response:
    body = await read_body(request)
    return JSON({"body": body.decode(), "path": request.url.path})


def app(
    burst: int = 2,
    *,
    registry: CollectorRegistry | None = None,
    by_token: bool = False,
    proxy_hops: int = 0,
    exempt: str = "",
    clock: Clock | None = None,
) -> tuple[object, RateLimited]:
    api = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])
    metrics = RateLimited(registry or CollectorRegistry())
    verifier = TEST_IDP.verifier()
    limited = limit(
        api,
        TokenBucket(1.0, burst, clock=clock or Clock()),
        Identify(
            api_keys={KEY}, by_token=by_token, proxy_hops=proxy_hops, verifier=lambda: verifier
        ),
        service="intake",
        metrics=metrics,
        exempt=networks(exempt),
    )
    return limited, metrics


def client(asgi: object, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi, client=(ip, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


def refused(metrics: RateLimited) -> dict[str, float]:
    return {
        s.labels["key_kind"]: s.value
        for m in metrics.refused.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }


async def test_beyond_the_burst_is_429_with_retry_after_in_the_usual_error_shape() -> None:
    clock = Clock()
    asgi, metrics = app(burst=2, clock=clock)
    async with client(asgi) as c:
        ok = [(await c.get("/v1/cases")).status_code for _ in range(2)]
        r = await c.get("/v1/cases")
        clock.now += 1.0
        again = await c.get("/v1/cases")
    assert ok == [200, 200]
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "rate_limited" and "วินาที" in r.json()["message"]
    assert again.status_code == 200  # refilled
    assert refused(metrics) == {"ip": 1.0}


async def test_retry_after_is_whole_seconds_until_the_next_token() -> None:
    api = Starlette(routes=[Route("/x", echo)])
    asgi = limit(
        api,
        TokenBucket(0.2, 1, clock=Clock()),  # one request each 5 s
        Identify(),
        service="routing",
        metrics=RateLimited(CollectorRegistry()),
    )
    async with client(asgi) as c:
        await c.get("/x")
        r = await c.get("/x")
    assert r.status_code == 429 and r.headers["retry-after"] == "5"


async def test_clients_are_told_apart_by_address_and_ipv6_by_its_64() -> None:
    asgi, _ = app(burst=1)
    async with client(asgi, "203.0.113.7") as a, client(asgi, "203.0.113.8") as b:
        assert (await a.get("/x")).status_code == 200
        assert (await b.get("/x")).status_code == 200
        assert (await a.get("/x")).status_code == 429
    async with client(asgi, "2001:db8:1:2::1") as a, client(asgi, "2001:db8:1:2::ffff") as b:
        assert (await a.get("/x")).status_code == 200
        assert (await b.get("/x")).status_code == 429  # the same subscriber's /64


async def test_a_known_api_key_in_the_form_is_its_own_client_and_the_body_arrives_whole() -> None:
    asgi, metrics = app(burst=1)
    form = urlencode({"api_key": KEY, "description": "ถนนเป็นหลุม " * 50})
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with client(asgi) as c:
        first = await c.post("/open311/v2/requests.json", content=form, headers=headers)
        by_ip = await c.get("/x")  # the address's own bucket is untouched by the key's
        second = await c.post("/open311/v2/requests.json", content=form, headers=headers)
    assert first.status_code == 200 and first.json()["body"] == form
    assert by_ip.status_code == 200
    assert second.status_code == 429
    assert refused(metrics) == {"api_key": 1.0}


async def test_a_made_up_api_key_is_no_escape_from_the_address_limit() -> None:
    asgi, metrics = app(burst=2)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with client(asgi) as c:
        codes = [
            (await c.post("/r", content=f"api_key=guess-{n}", headers=headers)).status_code
            for n in range(3)
        ]
        query = await c.get("/r", params={"api_key": "guess-x"})
        known = await c.get("/r", params={"api_key": KEY})
    assert codes == [200, 200, 429] and query.status_code == 429
    assert known.status_code == 200
    assert refused(metrics) == {"ip": 2.0}


async def test_a_large_form_is_not_held_back_for_its_api_key() -> None:
    asgi, _ = app(burst=5)
    body = "api_key=" + KEY + "&text=" + "x" * 200_000
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with client(asgi) as c:
        r = await c.post("/r", content=body, headers=headers)
    assert r.status_code == 200 and r.json()["body"] == body  # passed through, as one client


async def test_a_verified_token_names_its_subject_a_made_up_one_nothing() -> None:
    def signed(subject: str) -> dict[str, str]:
        return TEST_IDP.headers(Role.OFFICER, subject=subject)

    off, _ = app(burst=1)
    async with client(off) as c:
        codes = [(await c.get("/x", headers=signed(f"s{n}"))).status_code for n in range(2)]
    assert codes == [200, 429]  # turned off: every caller at one address is one client

    on, metrics = app(burst=1, by_token=True)
    async with client(on) as c:
        # Two clerks behind one office address each get their own bucket...
        first = [(await c.get("/x", headers=signed(s))).status_code for s in ("a", "b")]
        again = await c.get("/x", headers=signed("a"))  # a fresh token, the same subject
        # ...but tokens that do not verify are all the address's, however many are made up.
        made_up = [
            (await c.get("/x", headers={"authorization": f"Bearer x{n}"})).status_code
            for n in range(2)
        ]
    assert first == [200, 200] and again.status_code == 429
    assert made_up == [200, 429]
    assert refused(metrics) == {"token": 1.0, "ip": 1.0}


async def test_forwarded_for_counts_only_behind_a_trusted_proxy() -> None:
    spoofed = [{"x-forwarded-for": f"198.51.100.{n}"} for n in range(3)]
    direct, _ = app(burst=1)
    async with client(direct) as c:
        codes = [(await c.get("/x", headers=h)).status_code for h in spoofed]
    assert codes == [200, 429, 429]

    proxied, _ = app(burst=1, proxy_hops=1)
    async with client(proxied, "10.0.0.2") as c:
        # The proxy appends the address it saw; what the client wrote before it is ignored.
        a = await c.get("/x", headers={"x-forwarded-for": "1.1.1.1, 198.51.100.9"})
        b = await c.get("/x", headers={"x-forwarded-for": "2.2.2.2, 198.51.100.9"})
        other = await c.get("/x", headers={"x-forwarded-for": "198.51.100.10"})
    assert [a.status_code, b.status_code, other.status_code] == [200, 429, 200]


async def test_exempt_networks_are_never_limited() -> None:
    asgi, metrics = app(burst=1, exempt="127.0.0.0/8,::1")
    async with client(asgi, "127.0.0.1") as c:
        codes = {(await c.get("/x")).status_code for _ in range(20)}
    assert codes == {200} and refused(metrics) == {}


def test_settings_turn_it_off_with_a_zero() -> None:
    api = Starlette()
    off = ServiceSettings(rate_limit_per_second=0)
    assert rate_limited(api, off, CollectorRegistry()) is api
    assert rate_limited(api, ServiceSettings(rate_limit_burst=0), CollectorRegistry()) is api
    assert rate_limited(api, ServiceSettings(), CollectorRegistry()) is not api


def test_defaults_let_the_demo_through_and_still_limit_a_stranger() -> None:
    s = ServiceSettings()
    assert (s.rate_limit_per_second, s.rate_limit_burst) == (50.0, 200)
    loopback = networks(s.rate_limit_exempt)
    assert any(n.version == 4 and n.num_addresses > 1 for n in loopback)
    assert s.rate_limit_by_token and s.trusted_proxy_hops == 0
