"""Every endpoint of every service, on fakes, given what no client should send: none of it
is a 500. A refusal names what is wrong (4xx); a 500 says the server broke, and a client
retries it as if it might pass.

Found this way: a static file name of 5,000 characters (the file system refuses it) was a
500 on the portal and the console (`shared.http.static_file`), and their 503 pages did not
say when to try again (`shared.http.retry_after`).
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from shared.roles import Role
from tests.access_matrix import Row, rows, services
from tests.signing import TEST_IDP, sign_in

BUILT = {name: sign_in(service) for name, service in services().items()}
ROWS = rows(BUILT)
EVERY_ROLE = TEST_IDP.headers(*Role, department="engineering", officer_id="eng-anan")

# In a path segment: too long for a file name, a NUL, a bad %-escape, Thai digits, a number
# past any integer column, traversal, markup.
SEGMENTS = [
    "x" * 5_000,
    "%00",
    "%C3%28",
    "%F0%9F%92%A9",
    "๒๕๖๙",
    "9" * 40,
    "..%2F..%2Fetc",
    "'\"<>",
]
# In the query, under the names the endpoints read (found by reading `query_params` in
# services/ and shared/, Open311's and OpenID Connect's own included).
QUERY_NAMES = ["limit", "offset", "page", "status", "fy", "fiscal_year", "month", "village",
               "village_no", "category", "department", "case_id", "case", "start_date",
               "end_date", "service_request_id", "service_code", "jurisdiction_id", "lat",
               "long", "total", "view", "lang", "digits", "quarter", "format", "q", "since",
               "until", "mine", "overdue", "kind", "channel", "personal", "duplicate_of",
               "next", "again", "stage", "subject", "target", "dim", "by", "action", "code",
               "state", "redirect_uri", "client_id", "response_type", "scope", "nonce",
               "code_challenge", "code_challenge_method", "error", "api_key",
               "improvement_action", "requires_participation"]  # fmt: skip
QUERY_VALUES = ["-1", "9" * 30, "x" * 3_000, "๕", "", "2569-13", "2026-02-30", "%00", "1e400"]
BODIES = [b"", b"null", b"[]", b'"x"', b"1e999", b"{", b"[" * 5_000, b"\xff\xfe",
          b'{"text": 5, "channel": [], "params": "x", "action": {}}']  # fmt: skip


def _filled(path: str, value: str) -> str:
    # An :int parameter takes only digits (Starlette's converter): the rest is a 404 anyway.
    return re.sub(r"\{([^}]+)\}", lambda m: "0" if m.group(1).endswith(":int") else value, path)


async def _broken(row: Row, calls: list[dict[str, Any]]) -> list[str]:
    built = BUILT[row.service]
    transport = httpx.ASGITransport(app=built.asgi, raise_app_exceptions=False)
    found = []
    # On the in-memory broker, so that an endpoint that publishes answers as it would on Kafka
    # (an unconnected producer is a 503, which would hide the answer under test).
    async with AsyncExitStack() as stack:
        if (runtime := getattr(built, "runtime", None)) is not None:  # the console has no bus
            await stack.enter_async_context(TestKafkaBroker(runtime.broker))
        c = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://svc", timeout=30)
        )
        for call in calls:
            r = await c.request(
                row.method,
                call["url"],
                json=call.get("json"),
                content=call.get("content"),
                headers=call.get("headers", EVERY_ROLE),
            )
            # 503 is "try again" only with Retry-After; without it, or any other 5xx, a fault.
            if r.status_code >= 500 and not (r.status_code == 503 and "retry-after" in r.headers):
                found.append(f"{row.method} {str(call)[:120]} -> {r.status_code}")
    return found


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.service} {r.method} {r.path}")
async def test_no_hostile_request_is_a_500(row: Row) -> None:
    base = _filled(row.path, "2570")
    calls: list[dict[str, Any]] = []
    if "{" in row.path:
        calls += [{"url": _filled(row.path, s), "json": {}} for s in SEGMENTS]
    # Each value under every name at once (cut to 500 characters: a URL has a limit), the
    # first name the endpoint reads must be refused.
    calls += [
        {"url": base + "?" + "&".join(f"{name}={value[:500]}" for name in QUERY_NAMES), "json": {}}
        for value in QUERY_VALUES
    ]
    # And each name alone, so that one refused first hides none read after it; the value
    # turns with the route, so that across the routes every name meets every value.
    turn = sum(map(ord, row.path))
    calls += [
        {"url": f"{base}?{name}={QUERY_VALUES[(turn + i) % len(QUERY_VALUES)]}", "json": {}}
        for i, name in enumerate(QUERY_NAMES)
    ]
    if row.method in ("POST", "PUT", "PATCH"):
        calls += [
            {"url": base, "content": body, "headers": {**EVERY_ROLE, "content-type": ct}}
            for body in BODIES
            for ct in ("application/json", "application/x-www-form-urlencoded")
        ]
    assert await _broken(row, calls) == []
