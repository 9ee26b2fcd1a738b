"""Sign-in sessions: kept on the server, named to the browser by a signed cookie.

The tokens never reach the browser: the cookie carries only a random session id and its
HMAC, HttpOnly (no script reads it) and SameSite=Lax (another site's form cannot post with
it). Every form that changes something also carries the session's CSRF token, checked in
constant time.

Sessions live in this process's memory, and, when it is given a `SessionKeeper` (MongoDB's
`console_sessions` in the service), also there, so that a restart does not sign everyone
out: sealed with Fernet under a key derived from the session secret (a copy of the database
holds no usable token), filed under a hash of the session id (nor a usable cookie), kept
until the session would expire. A session is written when what it holds changes and at
most once a minute for its last request; one that is not in memory is looked for there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken

from shared.auth import Principal
from shared.roles import Role

log = logging.getLogger("ruam.console.sessions")

COOKIE = "ruam_console"
# A sign-in started but not finished (the person left the provider's page) is forgotten.
PENDING_SECONDS = 600
MAX_PENDING = 5  # sign-ins started in parallel tabs of one browser
# A session whose content did not change is written again at most this often (its last
# request, for the idle timeout after a restart).
SEEN_EVERY = 60.0


class SessionKeeper(Protocol):
    """Where sessions outlive the process: sealed bytes by key, kept until a moment.
    Raises OSError when it cannot be reached (the session then lives in memory only)."""

    async def load(self, key: str) -> bytes | None: ...

    async def save(self, key: str, sealed: bytes, until: datetime) -> None: ...

    async def delete(self, key: str) -> None: ...


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
    # What the keeper last holds of it: a digest of the content, and its `seen`.
    kept: str = field(default="", repr=False)
    kept_seen: float = field(default=0.0, repr=False)

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
        keeper: SessionKeeper | None = None,
    ) -> None:
        self._key = key
        self._keeper = keeper
        # Its own key, not the cookie's: what seals the tokens signs nothing else.
        sealing = hashlib.sha256(b"ruam-console-session-seal|" + key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(sealing))
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

    # -- kept beyond the process (SessionKeeper) ------------------------------------------

    def _filed_as(self, sid: str) -> str:
        return hmac.new(self._key, b"filed|" + sid.encode(), hashlib.sha256).hexdigest()

    async def lookup(self, cookie: str | None) -> Session | None:
        """`find`, then the keeper for a session this process does not hold (a restart)."""
        found = self.find(cookie)
        sid = self._sid_of(cookie)
        if found is not None or self._keeper is None or sid is None:
            return found
        try:
            sealed = await self._keeper.load(self._filed_as(sid))
        except OSError as exc:
            log.warning("console sessions not readable: %s", exc)
            return None
        session = self._unseal(sealed) if sealed else None
        if session is None or session.sid != sid:
            return None
        self._sessions[sid] = session
        return self.find(cookie)

    async def keep(self, session: Session) -> None:
        """Write the session to the keeper if it changed, or its last request if it was
        written more than `SEEN_EVERY` ago."""
        if self._keeper is None or self._sessions.get(session.sid) is not session:
            return
        plain = _plain(session)
        digest = hashlib.sha256(json.dumps({**plain, "seen": 0}).encode()).hexdigest()
        if digest == session.kept and session.seen - session.kept_seen < SEEN_EVERY:
            return
        until = min(session.seen + self.idle_seconds, session.created + self.max_seconds)
        sealed = self._fernet.encrypt(json.dumps(plain).encode())
        try:
            await self._keeper.save(
                self._filed_as(session.sid), sealed, datetime.fromtimestamp(until, UTC)
            )
        except OSError as exc:  # kept in memory: only a restart would lose it
            log.warning("console session not kept: %s", exc)
            return
        session.kept, session.kept_seen = digest, session.seen

    async def forget(self, session: Session) -> None:
        """Dropped here and in the keeper (sign-out, a renewed id)."""
        self.drop(session)
        if self._keeper is not None:
            try:
                await self._keeper.delete(self._filed_as(session.sid))
            except OSError as exc:  # it expires there in any case
                log.warning("console session not deleted: %s", exc)

    def _unseal(self, sealed: bytes) -> Session | None:
        try:
            plain = json.loads(self._fernet.decrypt(sealed))
        except (InvalidToken, ValueError):
            return None  # sealed under another secret: sign in again
        tokens, who = plain.get("tokens"), plain.get("who")
        return Session(
            sid=plain["sid"],
            csrf=plain["csrf"],
            created=plain["created"],
            seen=plain["seen"],
            tokens=Tokens(**tokens) if tokens else None,
            who=Principal(**{**who, "roles": frozenset(Role(r) for r in who["roles"])})
            if who
            else None,
            flash=plain.get("flash"),
            box=plain.get("box"),
        )


def _plain(session: Session) -> dict[str, Any]:
    """What is kept of a session (a sign-in on its way is not: it starts again)."""
    who = session.who
    tokens = session.tokens
    return {
        "sid": session.sid,
        "csrf": session.csrf,
        "created": session.created,
        "seen": session.seen,
        "tokens": None
        if tokens is None
        else {
            "access_token": tokens.access_token,
            "expires_at": tokens.expires_at,
            "refresh_token": tokens.refresh_token,
            "id_token": tokens.id_token,
        },
        "who": None
        if who is None
        else {
            "subject": who.subject,
            "org_id": who.org_id,
            "roles": sorted(r.value for r in who.roles),
            "department": who.department,
            "officer_id": who.officer_id,
            "name": who.name,
        },
        "flash": session.flash,
        "box": session.box,
    }


def csrf_ok(session: Session | None, given: str | None) -> bool:
    return (
        session is not None
        and bool(given)
        and hmac.compare_digest(session.csrf.encode(), (given or "").encode())
    )
