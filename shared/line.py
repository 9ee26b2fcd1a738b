"""LINE Messaging API: a push message to one LINE user (POST /v2/bot/message/push), the
reply to a message they just sent (POST /v2/bot/message/reply), and the content of a photo,
voice message, video or file they sent (GET /v2/bot/message/{id}/content, on LINE's data
host).

Written once for every service that tells someone something on LINE. LINE Notify was
discontinued (31 March 2025): this is the Messaging API of the SAO's LINE Official Account,
authorised by its channel access token.

A push is asked for from a consumer of an event, so the failures are sorted the way the
consumers' one retry mechanism (shared.kafka's dead-letter middleware) reads them:
- LINE away (a network fault, a timeout, 5xx) or asking us to slow down (429) is
  `LineUnavailable`, a ConnectionError: retried with backoff for as long as it takes,
  never dead-lettered;
- LINE refusing the channel's token (401) or the channel's right to the call (403) is
  `LineCredentialRefused`, a `LineUnavailable` too: the fault is the credential's, not the
  message's, and every message waits until the operator sets the current token;
- a message LINE refuses for good (400: a user id that is not one, a malformed request) is
  `LineRefused`, a PermanentError: the message goes to the service's dead-letter topic
  with the reason and its original bytes, for an operator to replay.
Each push carries `X-Line-Retry-Key`: LINE accepts a key once (for 24 hours) and answers
409 to the same key again, which is a push already made, so a redelivered event is not
pushed twice.

A reply costs the SAO nothing, where every push counts against the Official Account's
monthly message quota; but its token comes with the citizen's message, works once, and only
for about a minute. LINE answers a token it will not take (used, or too old) 400, so
`reply` returns False and the caller pushes instead.

LINE keeps what a user sent for a limited time only: `content` answers None once it is
gone (404), or when it is larger than the caller keeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from urllib.parse import quote

import httpx

from shared.errors import PermanentError

DEFAULT_BASE_URL = "https://api.line.me"
DEFAULT_DATA_BASE_URL = "https://api-data.line.me"
# LINE's limits: five messages a request, 5,000 characters a text message.
MAX_MESSAGES = 5
MAX_TEXT = 5000
# The namespace of the retry keys made from our event ids (any fixed UUID does).
RETRY_KEYS = uuid.UUID("5b2f3c1e-6f7a-4d2b-9c1e-2a4e8b7d9f10")
# The channel access token the local stack and the tests use with their fake LINE server:
# published, so refused outside RUAM_ENV=dev. Placeholders are refused everywhere.
DEV_LINE_TOKEN = "ruam-dev-line-channel-access-token"
PLACEHOLDER_TOKENS = frozenset(
    {"changeme", "change-me", "secret", "token", "xxx", "<channel access token>", "todo"}
)


def check_access_token(token: str, env: str, variable: str) -> None:
    """Refuse a channel access token that is a placeholder, or the published dev token
    outside dev (a settings validator's ValueError, naming `variable`). Empty is allowed:
    no pushes."""
    if token.strip().lower() in PLACEHOLDER_TOKENS or (token and not token.strip()):
        raise ValueError(
            f"{variable} holds a placeholder: set the channel access token of the SAO's LINE "
            "Official Account, or leave it empty (no LINE pushes)"
        )
    if token == DEV_LINE_TOKEN and env != "dev":
        raise ValueError(
            f"{variable} holds the published dev token; set your channel's own (the dev "
            "token is accepted only with RUAM_ENV=dev)"
        )


class LineUnavailable(ConnectionError):
    """LINE did not take the push now (network, 5xx, 429): try again later."""


class LineCredentialRefused(LineUnavailable):
    """LINE refused the channel, not the message: its access token (401: wrong, expired,
    revoked or reissued) or its right to the call (403: the plan). The same message goes
    through once the operator sets the current token, so it waits, retried, and is never
    dead-lettered (docs/runbook.md, RuamLineCredentialRefused)."""


class LineRefused(PermanentError):
    """LINE refused the message for good (a 4xx other than 401, 403, 409 and 429)."""


def retry_key(event_id: uuid.UUID | str, purpose: str = "") -> uuid.UUID:
    """The same key for every delivery of one event (and purpose): LINE's idempotency."""
    return uuid.uuid5(RETRY_KEYS, f"{event_id}:{purpose}")


class LinePush:
    """The Messaging API of one LINE channel: push, reply, and a message's content."""

    def __init__(
        self,
        channel_access_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        data_base_url: str = DEFAULT_DATA_BASE_URL,
        http: httpx.AsyncClient | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        if not channel_access_token:
            raise ValueError("a LINE push needs the channel access token")
        self._token = channel_access_token
        self._url = base_url.rstrip("/") + "/v2/bot/message/push"
        self._reply_url = base_url.rstrip("/") + "/v2/bot/message/reply"
        self._content_url = data_base_url.rstrip("/") + "/v2/bot/message/{}/content"
        self._http = http or httpx.AsyncClient(timeout=timeout_seconds)

    async def close(self) -> None:
        await self._http.aclose()

    async def push(self, to: str, texts: Sequence[str], key: uuid.UUID) -> bool:
        """Push `texts` to the user `to`; True when LINE took it now, False when it had taken
        this key before (409). `LineUnavailable` or `LineRefused` otherwise."""
        if not texts:
            return True
        body = {"to": to, "messages": _messages(texts)}
        response = await self._post("push", self._url, body, {"X-Line-Retry-Key": str(key)})
        status = response.status_code
        if 200 <= status < 300:
            return True
        if status == 409:  # this retry key was accepted before: the push is done
            return False
        raise _failure("push", response)

    async def reply(self, reply_token: str, texts: Sequence[str]) -> bool:
        """Reply with `texts` to the message that came with `reply_token`; True when LINE
        took it, False when it refused the token (400: used or expired), the caller then
        pushing. `LineUnavailable` or `LineRefused` otherwise."""
        if not texts:
            return True
        body = {"replyToken": reply_token, "messages": _messages(texts)}
        response = await self._post("reply", self._reply_url, body, {})
        status = response.status_code
        if 200 <= status < 300:
            return True
        if status == 400:
            return False
        raise _failure("reply", response)

    async def content(self, message_id: str, *, max_bytes: int) -> bytes | None:
        """The bytes the user sent in message `message_id` (what they are, the caller reads
        from them, not from LINE's word); None when LINE no longer has them (404) or they are
        over `max_bytes`. `LineUnavailable` while LINE is away, still preparing them (202) or
        refusing the token (401)."""
        url = self._content_url.format(quote(message_id, safe=""))
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with self._http.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 404:
                    return None
                if status == 202:
                    raise LineUnavailable(f"LINE content of {message_id}: still being prepared")
                if status != 200:
                    await response.aread()
                    raise _failure("content", response)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        return None
                return bytes(data)
        except httpx.TransportError as exc:
            raise LineUnavailable(f"LINE content: {type(exc).__name__}: {exc}") from exc

    async def _post(
        self, what: str, url: str, body: Mapping[str, object], headers: dict[str, str]
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token}", **headers}
        try:
            return await self._http.post(url, json=body, headers=headers)
        except httpx.TransportError as exc:  # connect, read, timeouts, protocol
            raise LineUnavailable(f"LINE {what}: {type(exc).__name__}: {exc}") from exc


def _messages(texts: Sequence[str]) -> list[dict[str, str]]:
    return [{"type": "text", "text": t[:MAX_TEXT]} for t in texts[:MAX_MESSAGES]]


def _failure(what: str, response: httpx.Response) -> Exception:
    status = response.status_code
    reason = f"LINE {what} answered {status}: {response.text[:300]}"
    if status == 429 or status >= 500:
        return LineUnavailable(reason)
    if status in (401, 403):
        return LineCredentialRefused(reason)
    return LineRefused(reason)
