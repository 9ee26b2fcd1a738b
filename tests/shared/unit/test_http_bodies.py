"""The shared body readers: hostile bodies are refused with a 4xx, never a 500."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.errors import ConcurrencyError, WriteUncertain
from shared.http import JSON, exception_handlers, read_json


async def echo(request: Request) -> Response:
    return JSON({"type": type(await read_json(request, max_bytes=2_000_000)).__name__})


async def race(request: Request) -> Response:
    raise ConcurrencyError("case moved on")


async def unknown(request: Request) -> Response:
    raise WriteUncertain("SPT-2569-000001 may be written")


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["POST"]),
        Route("/race", race, methods=["POST"]),
        Route("/unknown", unknown, methods=["POST"]),
    ],
    exception_handlers=exception_handlers({}),
)


async def post(path: str, body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(path, content=body)


async def test_deep_nesting_is_a_400() -> None:
    r = await post("/echo", b"[" * 200_000 + b"]" * 200_000)
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"


async def test_plain_json_passes_and_garbage_is_a_400() -> None:
    assert (await post("/echo", b'{"a": [1, 2]}')).json() == {"type": "dict"}
    assert (await post("/echo", b"\xff\xfe{")).status_code == 400


async def test_a_lost_version_race_is_503_with_retry_after_everywhere() -> None:
    r = await post("/race", b"{}")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "busy"


async def test_a_write_of_unknown_outcome_is_503_to_send_again_with_its_key() -> None:
    r = await post("/unknown", b"{}")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "retry" and "Idempotency-Key" in r.json()["message"]
