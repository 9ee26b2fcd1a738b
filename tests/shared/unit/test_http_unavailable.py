"""A dependency that fails a request: 503 + Retry-After when the fault passes (the caller
tries again), a 500 with the trace logged when it does not."""

from __future__ import annotations

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, UnsupportedVersionError
from pymongo.errors import AutoReconnect, OperationFailure, ServerSelectionTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.http import exception_handlers


def app_raising(exc: Exception) -> Starlette:
    async def endpoint(request: Request) -> Response:
        raise exc

    return Starlette(routes=[Route("/", endpoint)], exception_handlers=exception_handlers({}))


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionError("broker gone"),
        TimeoutError(),
        AutoReconnect("primary stepped down"),
        ServerSelectionTimeoutError("no server"),
        KafkaConnectionError(),
        KafkaTimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_passing_fault_is_503_with_retry_after(exc: Exception) -> None:
    transport = httpx.ASGITransport(app=app_raising(exc))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "unavailable"
    assert "primary" not in r.text and "no server" not in r.text  # no internals leaked


@pytest.mark.parametrize(
    "exc",
    [OperationFailure("bad query", code=2), UnsupportedVersionError()],
    ids=lambda e: type(e).__name__,
)
async def test_a_lasting_fault_is_a_500_not_a_try_again(exc: Exception) -> None:
    transport = httpx.ASGITransport(app=app_raising(exc), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/")
    assert r.status_code == 500 and "retry-after" not in r.headers
