"""Per-client rate limits for every service's HTTP API: a token bucket per client, in process.

A client is the first of: a known Open311 `api_key` (query string or form body), the
verified subject of a bearer token (`rate_limit_by_token`, on by default; a token that does
not verify names no client, or a made-up token would be a fresh bucket per request), the
client's address (an IPv6 client by its /64, which one subscriber is usually given whole).
The principal verified here is left on the request, so the endpoint does not verify again.
Beyond its burst a client is answered 429 with Retry-After. Memory is bounded: the least
recently seen clients are forgotten, and a forgotten client starts again with a full bucket.

`asgi_app` wraps the service's API in `rate_limited`; /healthz, /metrics and the AsyncAPI
document are served beside it and never limited. docs/limits.md lists the settings.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

from faststream.asgi.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter

from shared import georeport
from shared.auth import TokenVerifier
from shared.http import ApiError
from shared.settings import ServiceSettings
from shared.store import Lru

KeyKind = Literal["api_key", "token", "ip"]

# An Open311 form is a few hundred bytes: a body longer than this is not read ahead for
# its api_key (the client is then known by its address), so the limiter never holds more.
PEEK_BYTES = 64 * 1024
_FORM = "application/x-www-form-urlencoded"


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBucket:
    """`rate` requests a second per key, `burst` at once; `clients` keys remembered."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: Lru[_Bucket] = Lru(clients)

    def take(self, key: str) -> float:
        """0.0 if `key` may make a request now (and it is counted), else the seconds until
        it may."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets.put(key, bucket)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


@dataclass(frozen=True)
class Client:
    kind: KeyKind
    key: str


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(spec: str) -> tuple[Network, ...]:
    """'127.0.0.0/8, ::1' -> the networks; a bare address is a network of one."""
    parts = (p.strip() for p in spec.split(","))
    return tuple(ipaddress.ip_network(p, strict=False) for p in parts if p)


def _digest(value: str) -> str:
    # Keys are kept hashed: the limiter's memory holds no credential.
    return hashlib.sha256(value.encode("utf-8", errors="replace")).hexdigest()[:32]


class Identify:
    """Who a request comes from, for the limiter's purposes."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = (),
        by_token: bool = False,
        proxy_hops: int = 0,
        verifier: Callable[[], TokenVerifier | None] = lambda: None,
    ) -> None:
        self.api_keys = frozenset(api_keys)
        self.by_token = by_token
        self.proxy_hops = proxy_hops
        self.verifier = verifier

    def address(self, scope: Scope) -> str:
        """The client's address: the peer, or with `proxy_hops` reverse proxies in front,
        the entry the outermost of them appended to X-Forwarded-For (the entries left of
        it are whatever the client wrote)."""
        peer = scope.get("client")
        host = str(peer[0]) if peer else ""
        if self.proxy_hops > 0:
            forwarded = [
                hop.strip()
                for value in _headers(scope, b"x-forwarded-for")
                for hop in value.split(",")
                if hop.strip()
            ]
            if len(forwarded) >= self.proxy_hops:
                host = forwarded[-self.proxy_hops]
        return host

    def ip_key(self, host: str) -> str:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return f"ip:{host[:64]}"
        if ip.version == 6:
            return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
        return f"ip:{ip}"

    async def __call__(self, scope: Scope, form_api_key: str | None = None) -> Client:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        for candidate in (query.get("api_key"), form_api_key):
            # Only a key we issued names a client: made-up keys would each be a new bucket.
            if candidate and candidate in self.api_keys:
                return Client("api_key", f"key:{_digest(candidate)}")
        verifier = self.verifier() if self.by_token else None
        if verifier is not None:
            for value in _headers(scope, b"authorization"):
                scheme, _, token = value.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    continue
                try:
                    who = await verifier.verify(token.strip())
                except Exception:
                    break  # refused by the endpoint in a moment; until then, its address
                # The endpoint's `principal(request)` finds it here and verifies no more.
                scope.setdefault("state", {})["principal"] = who
                return Client("token", f"sub:{_digest(who.org_id + '|' + who.subject)}")
        return Client("ip", self.ip_key(self.address(scope)))


def _headers(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]


def _wants_form_peek(scope: Scope) -> bool:
    if scope.get("method") != "POST":
        return False
    ctype = next(iter(_headers(scope, b"content-type")), "")
    return ctype.split(";")[0].strip().lower() == _FORM


async def _peek(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's first messages, and its whole body if it fits in PEEK_BYTES."""
    seen: list[Message] = []
    body = b""
    while True:
        message = await receive()
        seen.append(message)
        if message.get("type") != "http.request":
            return seen, None
        body += message.get("body", b"")
        if len(body) > PEEK_BYTES:
            return seen, None
        if not message.get("more_body", False):
            return seen, body


def _replay(seen: list[Message], receive: Receive) -> Receive:
    pending = list(seen)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _form_api_key(body: bytes | None) -> str | None:
    if body is None:
        return None
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return next((v for k, v in fields if k == "api_key"), None)


class RateLimited:
    """Refusals of the rate limit, by service and kind of client key (never the key)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "ruam_http_rate_limited_total",
            "HTTP requests refused 429 by the per-client rate limit, by kind of client key",
            ["service", "key_kind"],
            registry=registry,
        )


def limit(
    app: ASGIApp,
    bucket: TokenBucket,
    identify: Identify,
    *,
    service: str,
    metrics: RateLimited,
    exempt: tuple[Network, ...] = (),
) -> ASGIApp:
    """`app` behind the limit: each HTTP request takes a token from its client's bucket."""

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if exempt and _within(identify.address(scope), exempt):
            await app(scope, receive, send)
            return
        form_key = None
        if identify.api_keys and _wants_form_peek(scope):
            seen, body = await _peek(receive)
            receive = _replay(seen, receive)
            form_key = _form_api_key(body)
        client = await identify(scope, form_key)
        wait = bucket.take(client.key)
        if wait <= 0:
            await app(scope, receive, send)
            return
        metrics.refused.labels(service, client.kind).inc()
        seconds = max(1, math.ceil(wait))
        refusal = ApiError(
            429,
            "rate_limited",
            f"too many requests: try again in {seconds} s"
            f" (ส่งคำขอถี่เกินไป กรุณาลองใหม่ใน {seconds} วินาที)",
            retry_after=seconds,
        )
        path = str(scope.get("path", ""))
        response = (
            georeport.refusal(refusal, georeport.format_of(path))
            if path.startswith(OPEN311_PREFIX)
            else refusal.response()
        )
        await response(scope, receive, send)

    return limited


# Open311 clients read refusals as the GeoReport v2 spec writes them.
OPEN311_PREFIX = "/open311/"


def _within(host: str, exempt: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in net for net in exempt)


def rate_limited(app: ASGIApp, settings: ServiceSettings, registry: CollectorRegistry) -> ASGIApp:
    """The service's API behind the limit its settings describe; as is when they turn it off
    (a rate or a burst of 0)."""
    if settings.rate_limit_per_second <= 0 or settings.rate_limit_burst <= 0:
        return app
    bucket = TokenBucket(
        settings.rate_limit_per_second,
        settings.rate_limit_burst,
        clients=settings.rate_limit_clients,
    )
    state = getattr(app, "state", None)  # the Starlette API: its verifier, once assembled
    identify = Identify(
        api_keys=settings.api_keys,
        by_token=settings.rate_limit_by_token,
        proxy_hops=settings.trusted_proxy_hops,
        verifier=lambda: getattr(state, "verifier", None),
    )
    return limit(
        app,
        bucket,
        identify,
        service=settings.service_name,
        metrics=RateLimited(registry),
        exempt=networks(settings.rate_limit_exempt),
    )
