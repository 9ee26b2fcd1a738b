"""The other services' public endpoints over HTTP. A service that cannot be reached (down,
timing out) is answered as 503: the page says "try again later", never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from services.portal.ports import Reply

log = logging.getLogger("ruam.portal.upstream")


class HttpUpstream:
    def __init__(self, urls: dict[str, str], timeout: float) -> None:
        self._urls = urls
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)))

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        try:
            r = await self._client.request(
                method, self._urls[service] + path, json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            log.warning("%s %s%s: %s", method, service, path, exc)
            return Reply(503)
        content_type = r.headers.get("content-type", "")
        body = None
        if content_type.startswith("application/json"):
            try:
                body = r.json()
            except ValueError:
                body = None
        return Reply(r.status_code, body, r.content, content_type)

    async def close(self) -> None:
        await self._client.aclose()
