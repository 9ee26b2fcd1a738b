"""Fixtures shared by every test layer.

Integration and e2e tests talk to the real Kafka broker and FerretDB of the `test`
profile (ports 19092/27018), which `make test` starts before pytest and stops after.
Each test gets its own topic prefix and database, so tests never see each other's
messages and need no clean-up between them.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from deploy.local import stack
from tests.signing import sign_in

S = TypeVar("S")

# Tests run with the built-in demo secrets, as `make test` does (services refuse them
# anywhere else).
os.environ.setdefault("RUAM_ENV", "dev")

TEST_PROFILE = stack.get_profile("test")


def _reachable() -> bool:
    try:
        return stack.kafka_ready(TEST_PROFILE.kafka_port) and stack.mongo_ping(
            TEST_PROFILE.mongo_port
        )
    except OSError:
        return False


@pytest.fixture(scope="session")
def real_stack() -> stack.Profile:
    """The real test stack; started here if `make test` did not (pytest run by hand)."""
    if not _reachable():
        if os.environ.get("RUAM_NO_STACK_START"):
            pytest.fail("the test stack is not running (make test starts it)")
        stack.up(TEST_PROFILE, infra_only=True)
    return TEST_PROFILE


@pytest.fixture
def isolation() -> str:
    """A unique namespace for one test: topic prefix, consumer groups, database."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def real_settings(real_stack: stack.Profile, isolation: str) -> Callable[..., Any]:
    """Build a service's settings pointed at the real test stack, isolated per test."""

    def build(cls: type[S], **overrides: Any) -> S:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": real_stack.kafka_bootstrap,
            # Kafka's admin: a test's topic prefix is its own, which no service's ACLs name
            # (tests/deploy/test_kafka_acls.py gives services their own principals).
            "kafka_sasl_username": real_stack.env()["KAFKA_SASL_USERNAME"],
            "kafka_sasl_password": real_stack.env()["KAFKA_SASL_PASSWORD"],
            "mongodb_url": real_stack.mongodb_url,
            "mongodb_database": f"ruam_{isolation}",
            "topic_prefix": f"{isolation}.",
            "retry_backoff_seconds": 0.05,
            "outbox_sweep_seconds": 0.5,
        }
        values.update(overrides)
        return cls(**values)

    return build


@asynccontextmanager
async def running(service: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run a service in-process (broker, hooks, loops) and give an HTTP client to it; the
    service trusts the tests' identity provider (tests/signing.py)."""
    sign_in(service)
    async with service.faststream.start_lifespan_context():
        transport = httpx.ASGITransport(app=service.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            # FastStream finishes the lifespan before the broker has connected: wait for
            # /healthz, as an orchestrator would, before the test talks to the service.
            async def healthy() -> bool:
                return (await client.get("/healthz")).status_code == 200

            await eventually(healthy, timeout=60)
            yield client


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, timeout: float = 60.0, interval: float = 0.1
) -> Any:
    """Poll until probe() returns something truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core for the browser tests (the portal's and the console's); a pytest run by hand
    may come before `make install` fetched the web assets."""
    from deploy.local import web_assets

    web_assets.install()
    return web_assets.axe_script()
