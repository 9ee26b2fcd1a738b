"""Intake's HTTP API on fakes (no broker, no database): for the conformance tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from services.intake.bootstrap import IntakeService, create_service
from services.intake.settings import IntakeSettings
from tests.intake.unit.helpers import API_KEY, SECRET, World
from tests.signing import sign_in


def service(world: World, **settings: Any) -> IntakeService:
    values = {"open311_api_keys": f"{API_KEY},other-key", "line_channel_secret": SECRET}
    return create_service(
        IntakeSettings.model_validate({**values, **settings}),
        submissions=world.submissions,
        vault=world.vault,
        records=world.records,
        threads=world.threads,
        dead_letters=world.dead,
        agencies=dict(world.handlers.agencies),
        clock=world.clock,
        publisher=world.publisher,
    )


@asynccontextmanager
async def client(
    world: World, headers: dict[str, str] | None = None, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of intake on the world's fakes, trusting the tests' identity provider;
    `headers` (tests/signing.py's `as_(...)`) sign every request in, none: anonymous."""
    svc = sign_in(service(world, **settings))
    # The service's handlers publish through the world's fake publisher.
    world.handlers = svc.handlers
    transport = httpx.ASGITransport(app=svc.asgi)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake", headers=headers
    ) as c:
        yield c
