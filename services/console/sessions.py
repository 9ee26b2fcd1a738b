"""Sign-in sessions: kept on the server, named to the browser by a signed cookie.

The tokens never reach the browser: the cookie carries only a random session id and its
HMAC, HttpOnly (no script reads it) and SameSite=Lax (another site's form cannot post with
it). Every form that changes something also carries the session's CSRF token, checked in
constant time. Sessions live in this process's memory: a restart signs everyone out, which
costs a sign-in and keeps no token on disk.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.auth import Principal

COOKIE = "ruam_console"
# A sign-in started but not finished (the person left the provider's page) is forgotten.
PENDING_SECONDS = 600
MAX_PENDING = 5  # sign-ins started in parallel tabs of one browser


@dataclass
class Tokens:
    access_token: str
    expires_at: float  # this process's clock (time.time)
    refresh_token: str | None = None
    id_token: str | None = None


@dataclass(frozen=True)
class Pending:
    """A sign-in on its way: what the callback must find again (RFC 7636, OIDC nonce)."""

    verifier: str
    nonce: str
    next_path: str
    started: float


@dataclass
class Session:
    sid: str
    csrf: str
    created: float
    seen: float
    tokens: Tokens | None = None
    who: Principal | None = None
    pending: dict[str, Pending] = field(default_factory=dict)  # by state
    flash: str | None = None  # one message for the next page (after a redirect)
    # A suggestion-box opening being typed in, slip by slip, until it is sent.
    box: dict[str, Any] | None = None

    @property
    def signed_in(self) -> bool:
        return self.tokens is not None and self.who is not None

    def sign_out(self) -> None:
        self.tokens = None
        self.who = None
        self.pending.clear()
        self.box = None
        # A new CSRF token with every change of who is signed in.
        self.csrf = secrets.token_urlsafe(32)


class SessionStore:
    def __init__(
        self,
        key: bytes,
        *,
        idle_seconds: int,
        max_seconds: int,
        max_sessions: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.max_sessions = max_sessions
        self._now = now
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        # When each person last looked at their queue (by subject): outlives a sign-out,
        # so "new since your last visit" means what it says.
        self.last_visits: dict[str, float] = {}

    def now(self) -> float:
        return self._now()

    # -- the cookie ----------------------------------------------------------------------

    def cookie_value(self, session: Session) -> str:
        return f"{session.sid}.{self._mac(session.sid)}"

    def _mac(self, sid: str) -> str:
        return hmac.new(self._key, sid.encode(), hashlib.sha256).hexdigest()

    def _sid_of(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        sid, _, mac = cookie.partition(".")
        if not sid or not hmac.compare_digest(mac, self._mac(sid)):
            return None
        return sid

    # -- sessions ------------------------------------------------------------------------

    def find(self, cookie: str | None) -> Session | None:
        """The live session a cookie names; None for a forged, unknown or expired one."""
        sid = self._sid_of(cookie)
        session = self._sessions.get(sid) if sid else None
        if session is None:
            return None
        now = self._now()
        if now - session.seen > self.idle_seconds or now - session.created > self.max_seconds:
            del self._sessions[session.sid]
            return None
        session.seen = now
        self._sessions.move_to_end(session.sid)
        return session

    def new(self) -> Session:
        now = self._now()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        self._sessions[session.sid] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session

    def renew(self, session: Session) -> Session:
        """A new id for the session once someone signs in (no fixation of an id planted
        before the sign-in)."""
        self._sessions.pop(session.sid, None)
        fresh = self.new()
        fresh.tokens, fresh.who, fresh.flash = session.tokens, session.who, session.flash
        return fresh

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.sid, None)

    def start_sign_in(self, session: Session, state: str, pending: Pending) -> None:
        now = self._now()
        for key in [k for k, p in session.pending.items() if now - p.started > PENDING_SECONDS]:
            del session.pending[key]
        while len(session.pending) >= MAX_PENDING:
            session.pending.pop(next(iter(session.pending)))
        session.pending[state] = pending

    def take_pending(self, session: Session, state: str) -> Pending | None:
        """The sign-in `state` names, once: a replayed callback finds nothing."""
        pending = session.pending.pop(state, None)
        if pending is None or self._now() - pending.started > PENDING_SECONDS:
            return None
        return pending


def csrf_ok(session: Session | None, given: str | None) -> bool:
    return (
        session is not None
        and bool(given)
        and hmac.compare_digest(session.csrf.encode(), (given or "").encode())
    )
