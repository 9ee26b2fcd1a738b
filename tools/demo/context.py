"""What every demo stage receives: where the services are, the data, and a printer."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tools.accounts import Accounts, SignIn


class RetryAfterTransport(httpx.AsyncBaseTransport):
    """503 means "try again" (with Retry-After): do so, a bounded number of times.

    409 is not retried: it means the step is not allowed now (for the demo: taken before).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None, attempts: int = 20) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._attempts = attempts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(self._attempts - 1):
            response = await self._inner.handle_async_request(request)
            if response.status_code != 503:
                return response
            await response.aclose()
            retry_after = response.headers.get("retry-after", "1")
            await asyncio.sleep(min(float(retry_after) if retry_after.isdigit() else 1.0, 10.0))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class Report:
    """One citizen report from the Traffy Fondue export (or a CSV of the same shape)."""

    ticket_id: str
    text: str
    types: tuple[str, ...]  # the categories the citizen chose
    lat: float | None
    lon: float | None
    address: str
    timestamp: str  # as in the file, e.g. 2023-05-16 08:21:30.123+00
    state: str
    star: str


@dataclass
class DemoContext:
    urls: dict[str, str]  # service name -> base URL, e.g. {"intake": "http://127.0.0.1:8001"}
    client: httpx.AsyncClient
    reports: list[Report]
    data_path: Path | None
    # Filled by the stages as they go; later stages read what earlier ones did.
    results: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    # The tests sign in with their own identity provider; the demo, like everyone else.
    sign_in: SignIn | None = None
    _accounts: Accounts | None = None

    def url(self, service: str, path: str) -> str:
        return self.urls[service].rstrip("/") + path

    async def as_(self, username: str) -> dict[str, str]:
        """The Authorization header of `username`, a demo account of the built-in issuer
        (`desk`, `eng-head`, `palad`, `auditor`, ...: docs/auth.md)."""
        if self._accounts is None and self.sign_in is not None:
            self._accounts = Accounts(self.sign_in)
        if self._accounts is None:
            issuer = os.environ.get("RUAM_OIDC_ISSUER") or self.url("routing", "/oidc")
            self._accounts = Accounts.of(self.client, issuer)
        return await self._accounts.headers(username)

    @staticmethod
    def heading(title: str) -> None:
        print(f"\n=== {title} " + "=" * max(3, 72 - len(title)), flush=True)

    @staticmethod
    def line(text: str = "") -> None:
        print(text, flush=True)

    @staticmethod
    def table(rows: list[tuple[Any, ...]], headers: tuple[str, ...]) -> None:
        cells = [tuple(str(c) for c in headers)] + [tuple(str(c) for c in r) for r in rows]
        widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
        for n, row in enumerate(cells):
            print("  " + "  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)))
            if n == 0:
                print("  " + "  ".join("-" * w for w in widths))

    async def wait_for(
        self,
        probe: Callable[[], Awaitable[tuple[int, int]]],
        what: str,
        timeout: float = 300.0,
    ) -> tuple[int, int]:
        """Poll probe() -> (done, total), showing progress, until done == total."""
        deadline = time.monotonic() + timeout
        done, total = await probe()
        while done < total and time.monotonic() < deadline:
            print(f"\r  {what}: {done}/{total}", end="", flush=True)
            await asyncio.sleep(0.5)
            done, total = await probe()
        print(f"\r  {what}: {done}/{total}" + (" (timed out)" if done < total else ""), flush=True)
        return done, total


def _width(text: str) -> int:
    # Thai combining marks take no column of their own.
    import unicodedata

    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
