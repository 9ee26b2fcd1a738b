"""The one place the console is wired together. Tests call it with fakes.

The console consumes no topic and owns no database: it is an OpenID Connect client and a
renderer of the services' APIs. So it is not assembled on a Kafka runtime
(`shared.runtime`); it has what every service shows an orchestrator (/healthz, /metrics)
and the same per-client rate limit in front of its pages (`shared.limits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from services.console import http
from services.console.audit import BusPublisher
from services.console.http import Console
from services.console.kept_sessions import MongoSessions
from services.console.oidc import OidcClient
from services.console.photos import MongoPhotos, PhotoStore
from services.console.sessions import SessionKeeper, SessionStore
from services.console.settings import ConsoleSettings
from services.console.upstream import Api
from shared.audit import AuditTrail
from shared.auth import HttpClientFactory, verifier_for
from shared.clock import SystemClock
from shared.http import exception_handlers, retry_after
from shared.limits import rate_limited
from shared.mongo import create_client

log = logging.getLogger("ruam.console")


@dataclass
class ConsoleService:
    settings: ConsoleSettings
    console: Console
    api: Starlette  # the pages; `state` holds the console and the token verifier
    asgi: ASGIApp  # what uvicorn serves


def _now() -> datetime:
    return datetime.now(UTC)


def create_service(
    settings: ConsoleSettings | None = None,
    *,
    api: Api | None = None,
    oidc_http: HttpClientFactory | None = None,
    now: Callable[[], datetime] = _now,
    session_clock: Callable[[], float] | None = None,
    photos: PhotoStore | None = None,
    keeper: SessionKeeper | None = None,
    audit: AuditTrail | None = None,
) -> ConsoleService:
    """`photos`: the file store; by default MongoDB's `console_photos` (the client connects
    on first use, so a console on fakes never opens a connection). `keeper`: where sessions
    outlive a restart; by default, with the default file store, MongoDB's `console_sessions`
    (on fakes, none unless given: sessions in memory only). `audit`: where the looks at
    citizens' files are recorded; by default the audit trail's topic, written with the
    console's Kafka principal (a dev console without one records none and says so)."""
    settings = settings or ConsoleSettings()
    housekeeping: list[Callable[[], Any]] = []
    if photos is None:
        mongo = create_client(
            settings.mongodb_url,
            app_name=settings.service_name,
            max_pool_size=settings.mongodb_max_pool_size,
        )
        kept = MongoPhotos(mongo[settings.mongodb_database])
        retention = timedelta(days=settings.photo_retention_days)

        async def purge() -> None:
            while True:
                await asyncio.sleep(settings.photo_purge_seconds)
                try:
                    await kept.purge(datetime.now(UTC) - retention)
                except Exception as exc:  # the database away: the next round tries again
                    log.warning("after-photos not purged: %s", exc)

        housekeeping.append(purge)
        photos = kept
        if keeper is None:
            kept_sessions = MongoSessions(mongo[settings.mongodb_database])

            async def purge_sessions() -> None:
                while True:
                    await asyncio.sleep(settings.photo_purge_seconds)
                    try:
                        await kept_sessions.purge(datetime.now(UTC))
                    except Exception as exc:  # the database away: the next round tries again
                        log.warning("expired sessions not purged: %s", exc)

            housekeeping.append(purge_sessions)
            keeper = kept_sessions
    bus: BusPublisher | None = None
    if audit is None and (settings.env != "dev" or settings.kafka_sasl_username):
        bus = BusPublisher(settings, settings.upstream_timeout_seconds)
        audit = AuditTrail(bus, settings.service_name, SystemClock())
    upstream = api or Api(settings)
    oidc = OidcClient(
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.redirect_uri,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        http=oidc_http or (lambda: httpx.AsyncClient(timeout=settings.upstream_timeout_seconds)),
    )
    sessions = SessionStore(
        settings.session_key,
        idle_seconds=settings.session_idle_seconds,
        max_seconds=settings.session_max_seconds,
        max_sessions=settings.max_sessions,
        **({"now": session_clock} if session_clock else {}),
        keeper=keeper,
    )
    console = Console(settings, sessions, oidc, upstream, now)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.ensure_future(job()) for job in housekeeping]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await upstream.close()
        if bus is not None:
            await bus.close()

    pages = Starlette(
        routes=http.routes(),
        exception_handlers=exception_handlers(http.ERRORS, page=http.missing_page),
    )
    pages.state.title = "Ruam console"
    pages.state.console = console
    pages.state.settings = settings
    pages.state.verifier = verifier_for(settings, http=oidc_http)
    pages.state.photos = photos
    pages.state.audit = audit
    registry = CollectorRegistry()
    limited = rate_limited(pages, settings, registry)

    async def healthz(request: Request) -> Response:
        # Ready when the identity provider answers: without it nobody can sign in.
        if await oidc.ready():
            return JSONResponse({"status": "ok", "checks": {"oidc": "ok"}})
        down = {"status": "unavailable", "checks": {"oidc": "down"}}
        return JSONResponse(down, 503, headers=retry_after(503))

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    outer = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Mount("/", limited),
        ],
        lifespan=lifespan,
    )
    return ConsoleService(settings, console, pages, outer)
