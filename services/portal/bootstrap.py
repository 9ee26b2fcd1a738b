"""The one place the portal is wired together. Tests call it with fakes."""

from __future__ import annotations

import secrets
from datetime import timedelta

from services.portal import http, subscribers
from services.portal.adapters.config_files import load_site
from services.portal.adapters.mongo_portal import MongoPhotoStore, MongoReadStore
from services.portal.adapters.upstream import HttpUpstream
from services.portal.domain.site import Site
from services.portal.handlers import PortalHandlers
from services.portal.metrics import PortalMetrics
from services.portal.ports import PhotoStore, ReadStore, Upstream
from services.portal.settings import PortalSettings
from shared.clock import Clock, SystemClock
from shared.outbox import periodic
from shared.runtime import build_runtime
from shared.service import Service, assemble

PortalService = Service[PortalSettings, PortalHandlers]


def create_service(
    settings: PortalSettings | None = None,
    *,
    store: ReadStore | None = None,
    photos: PhotoStore | None = None,
    upstream: Upstream | None = None,
    clock: Clock | None = None,
    site: Site | None = None,
) -> PortalService:
    settings = settings or PortalSettings()
    runtime = build_runtime(settings, with_mongo=None in (store, photos))
    if store is None:
        store = MongoReadStore(runtime.db)
    clock = clock or SystemClock()
    if photos is None:
        kept = MongoPhotoStore(runtime.db)
        retention = timedelta(days=settings.photo_retention_days)

        async def purge_photos() -> int:
            return await kept.purge(clock.now() - retention)

        runtime.loops.append(
            periodic(
                purge_photos,
                settings.photo_purge_seconds,
                "web-form photos past their retention deleted",
                first_after=min(60.0, settings.photo_purge_seconds),
            )
        )
        photos = kept
    if upstream is None:
        client = HttpUpstream(
            {name: settings.url_of(name) for name in ("intake", "survey", "compliance", "insight")},
            settings.upstream_timeout_seconds,
        )
        runtime.shutdown.append(client.close)
        upstream = client
    secret = settings.human_check_secret.encode() or secrets.token_bytes(32)
    handlers = PortalHandlers(
        store,
        photos,
        upstream,
        site or load_site(settings.org_id, settings.config_dir),
        clock,
        PortalMetrics(runtime.registry),
        org_id=settings.org_id,
        human_secret=secret,
        human_ttl=settings.human_check_ttl_seconds,
    )
    # What was kept before a restart, before the first page is asked for.
    runtime.startup.append(handlers.load)
    service = assemble(
        settings,
        runtime,
        handlers,
        handlers.clock,
        subscribers.register,
        http,
        page=http.missing_page,
    )
    service.api.state.report_limit = http.ReportLimit(settings)
    return service
