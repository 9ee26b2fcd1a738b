"""The one place routing is wired together. Tests call it with fakes."""

from __future__ import annotations

import httpx
from starlette.routing import BaseRoute

from services.routing import http, line_push, subscribers
from services.routing.adapters.classifier import default_ranker
from services.routing.adapters.directory_files import DEFAULT_ROOT, DirectoryFiles
from services.routing.adapters.mongo_cases import MongoCaseRepository
from services.routing.handlers import RoutingHandlers
from services.routing.identity import Issuer, create_issuer
from services.routing.line_push import OfficerPush
from services.routing.metrics import RoutingMetrics
from services.routing.ports import CaseRepository, CategoryRanker, DirectorySource
from services.routing.roles import RoleChanges
from services.routing.settings import RoutingSettings
from shared.auth import TokenVerifier
from shared.clock import Clock, SystemClock
from shared.http import ErrorTable
from shared.line import LinePush
from shared.ops import Check, each
from shared.outbox import periodic
from shared.runtime import build_runtime
from shared.service import Service, assemble

RoutingService = Service[RoutingSettings, RoutingHandlers]
# How often who-may-sign-in-as-what is compared with the last look (services/routing/roles.py).
ROLE_CHECK_SECONDS = 60.0


class _Api:
    """Routing's API with the built-in issuer's routes (`shared.service.Api`)."""

    ERRORS: ErrorTable = http.ERRORS

    def __init__(self, issuer: Issuer | None) -> None:
        self.issuer = issuer

    def routes(self) -> list[BaseRoute]:
        return http.routes(self.issuer)


def create_service(
    settings: RoutingSettings | None = None,
    *,
    cases: CaseRepository | None = None,
    directories: DirectorySource | None = None,
    ranker: CategoryRanker | None = None,
    clock: Clock | None = None,
) -> RoutingService:
    settings = settings or RoutingSettings()
    runtime = build_runtime(settings, with_mongo=cases is None)
    if cases is None:
        repo = MongoCaseRepository(runtime.db, runtime.publisher)
        runtime.startup += [repo.ensure_indexes, repo.repair_index]
        runtime.loops.append(
            periodic(
                repo.reload_open,
                repo.reload_every,
                "open cases reloaded",
                first_after=repo.reload_every,
            )
        )
        cases = repo
    runtime.relay(cases.sweep)
    if directories is None:
        directories = DirectoryFiles(
            settings.directory_path or DEFAULT_ROOT, check_every=settings.directory_check_seconds
        )
    # Fail at start-up, not on the first message, when our own organisation has no directory.
    directories.get(settings.org_id)
    # Refuses to start outside dev without a signing key (IssuerMisconfigured).
    issuer = create_issuer(settings, directories) if settings.builtin_issuer else None
    clock = clock or SystemClock()
    handlers = RoutingHandlers(
        cases,
        directories,
        ranker or default_ranker(),
        clock,
        RoutingMetrics(runtime.registry),
        org_id=settings.org_id,
        preview_cache_seconds=settings.preview_load_cache_seconds,
        loads_cache_seconds=settings.assignment_load_recount_seconds,
    )
    runtime.startup.append(handlers.warm_up)
    checks: list[Check] = []
    if isinstance(cases, MongoCaseRepository):
        working_set = cases

        async def standing() -> None:
            now = clock.now()
            known = {d.code for d in handlers.directory().departments}
            handlers.metrics.show(working_set.standing(now), now, known)

        checks.append(standing)
    if issuer is not None and settings.oidc_signing_key_not_after is not None:
        kid = str(issuer.jwks()["keys"][0]["kid"])
        not_after = settings.oidc_signing_key_not_after

        async def signing_key() -> None:
            left = (not_after - clock.now()).total_seconds()
            handlers.metrics.signing_key_expiry.labels(kid).set(left)

        checks.append(signing_key)
    if checks:
        runtime.loops.append(periodic(each(*checks), settings.ops_every_seconds, "ops"))
    if issuer is not None and runtime.mongo is not None:
        roles = RoleChanges(issuer, runtime.db, runtime.publisher, clock)
        runtime.loops.append(periodic(roles.check, ROLE_CHECK_SECONDS, "role changes recorded"))
    runtime.loops.append(
        periodic(
            lambda: handlers.fire_timers(settings.timer_batch),
            settings.timer_poll_seconds,
            "deadline timers fired event(s)",
        )
    )
    if settings.line_push:
        line = LinePush(
            settings.line_channel_access_token.get_secret_value(),
            base_url=settings.line_api_base_url,
        )
        line_push.register(runtime, OfficerPush(cases, directories, line, settings.console_url))
        runtime.shutdown.append(line.close)
    service = assemble(settings, runtime, handlers, clock, subscribers.register, _Api(issuer))
    if issuer is not None and issuer.issuer_url == settings.oidc_issuer:
        # Routing verifies the tokens of the issuer it serves itself by asking its own API in
        # process: the same discovery and JWKS checks, no request over the network to itself.
        api = service.api
        service.api.state.verifier = TokenVerifier(
            issuer.issuer_url,
            settings.oidc_audience,
            http=lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=api)),
        )
    return service
