"""LINE's Messaging API push and reply endpoints as a real HTTP server, for the tests of the
LINE pushes (shared/line.py): it answers as LINE does and checks what LINE checks, so a
client that sends the wrong header or body shape fails here as it would there.

- `Authorization: Bearer <the channel access token>`, else 401;
- `X-Line-Retry-Key`: a UUID, else 400; a key already accepted: 409 (LINE's idempotency);
- a JSON body `{"to": "U<32 hex>", "messages": [1–5 × {"type": "text", "text": 1–5000}]}`,
  else 400; a user id the channel does not know (`known`, when given): 400;
- `fail_next` answers queued statuses first (500, 429...), as LINE's bad moments;
- a reply `{"replyToken", "messages"}` is taken for a token `issue` gave (what LINE puts in
  a webhook event) and only once; any other token: 400 "Invalid reply token";
- `GET /v2/bot/message/{id}/content` answers what `contents` holds for the id (bytes and
  media type), 404 for anything else (gone, as LINE's content is after a while).

It runs uvicorn in a thread of its own, so a test's event loop, a process of the test stack
or the browser tests can all reach it at `url`.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

USER_ID = re.compile(r"^U[0-9a-f]{32}$")


@dataclass
class FakeLine:
    token: str
    known: frozenset[str] | None = None  # None: every well-formed user id
    fail_next: list[int] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)  # accepted: to, messages, key
    answered: list[int] = field(default_factory=list)  # every status given, in order
    replies: list[dict[str, Any]] = field(default_factory=list)  # accepted: to, messages
    reply_answers: list[int] = field(default_factory=list)
    contents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)  # content asked for, by message id
    port: int = 0  # given by `running`
    _keys: set[str] = field(default_factory=set)
    _tokens: dict[str, str] = field(default_factory=dict)  # reply token -> its user
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v2/bot/message/push", self._push, methods=["POST"]),
                Route("/v2/bot/message/reply", self._reply, methods=["POST"]),
                Route("/v2/bot/message/{message_id}/content", self._content, methods=["GET"]),
            ]
        )

    async def _content(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"message": "Authentication failed"}, status_code=401)
        message_id = request.path_params["message_id"]
        with self._changed:
            self.fetched.append(message_id)
            self._changed.notify_all()
        if self.fail_next:
            return JSONResponse({"message": "try again later"}, status_code=self.fail_next.pop(0))
        if message_id not in self.contents:
            return JSONResponse({"message": "Not found"}, status_code=404)
        data, media_type = self.contents[message_id]
        return Response(data, media_type=media_type)

    def issue(self, user: str) -> str:
        """A reply token for a message `user` sends now, as LINE gives one in a webhook."""
        token = uuid.uuid4().hex
        with self._changed:
            self._tokens[token] = user
        return token

    async def _reply(self, request: Request) -> JSONResponse:
        return await self._respond(request, self._reply_answer, self.reply_answers)

    def _reply_answer(self, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Authentication failed: the access token is not valid"}
        try:
            body = json.loads(raw)
            token, messages = body["replyToken"], body["messages"]
            assert isinstance(token, str) and _texts(messages)
        except (ValueError, KeyError, TypeError, AssertionError):
            return 400, {"message": "The request body has 1 error(s)"}
        with self._changed:
            user = self._tokens.pop(token, None)
            if user is None:
                return 400, {"message": "Invalid reply token"}
            self.replies.append({"to": user, "messages": messages})
        return 200, {"sentMessages": [{"id": f"r{len(self.replies)}", "quoteToken": "q"}]}

    async def _push(self, request: Request) -> JSONResponse:
        return await self._respond(request, self._answer, self.answered)

    async def _respond(
        self,
        request: Request,
        answer: Callable[[Any, bytes], tuple[int, dict[str, Any]]],
        statuses: list[int],
    ) -> JSONResponse:
        status, body = answer(request.headers, await request.body())
        with self._changed:
            statuses.append(status)
            self._changed.notify_all()
        return JSONResponse(body, status_code=status)

    def _answer(self, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Authentication failed: the access token is not valid"}
        key = headers.get("x-line-retry-key", "")
        try:
            uuid.UUID(key)
        except ValueError:
            return 400, {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}
        if not headers.get("content-type", "").startswith("application/json"):
            return 400, {"message": "The request body has 1 error(s)"}
        try:
            body = json.loads(raw)
            to, messages = body["to"], body["messages"]
            assert isinstance(to, str) and USER_ID.match(to) and _texts(messages)
        except (ValueError, KeyError, TypeError, AssertionError):
            return 400, {"message": "The request body has 1 error(s)"}
        if self.fail_next:
            return self.fail_next.pop(0), {"message": "try again later"}
        if self.known is not None and to not in self.known:
            return 400, {"message": "Failed to send messages"}
        with self._changed:
            if key in self._keys:
                return 409, {"message": "The retry key is already accepted"}
            self._keys.add(key)
            self.pushes.append({"to": to, "messages": messages, "key": key})
        return 200, {"sentMessages": [{"id": str(len(self.pushes)), "quoteToken": "q"}]}

    def wait_for(self, done: Callable[[FakeLine], bool], timeout: float = 30.0) -> None:
        """Until `done(self)` holds (checked at each answer), or AssertionError at `timeout`."""
        end = time.monotonic() + timeout
        with self._changed:
            while not done(self):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the fake LINE server saw {self.answered}, {self.pushes}")
                self._changed.wait(left)


def _texts(messages: Any) -> bool:
    return (
        isinstance(messages, list)
        and 1 <= len(messages) <= 5
        and all(
            m["type"] == "text" and isinstance(m["text"], str) and 1 <= len(m["text"]) <= 5000
            for m in messages
        )
    )


@contextmanager
def running(line: FakeLine) -> Iterator[FakeLine]:
    # The socket listens before the server's thread starts: a request sent at once waits in
    # its backlog, so nobody needs to wait for the server to say it is up.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    line.port = int(sock.getsockname()[1])
    config = uvicorn.Config(line.app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-line", daemon=True
    )
    thread.start()
    try:
        yield line
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
