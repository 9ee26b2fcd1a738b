"""Who may call which endpoint: every route of every service says it, once, where it is made.

A service's `routes()` builds each one as `Endpoint(path, handler, methods, access)`.
`access` is either the roles that may call it (a bearer token is checked before the handler
runs: 401 without a valid one, 403 without one of the roles) or `anyone(...)`, which says
which credential of its own the endpoint checks instead (the Open311 api_key, the LINE
signature, a survey token) or why it is public. A route built any other way is a defect:
the tests walk every service's routes and refuse one without an `Access`, and they call
every endpoint with a token of every role. The README's matrix is printed from the same
declarations (`python -m tools.access_matrix`).

What an endpoint shows or allows beyond its roles (an officer's own department, the
assigned officer's full text) is decided by its service with the principal the guard
verified: `await principal(request)` returns it without verifying again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shared.auth import require
from shared.roles import Role

Handler = Callable[[Request], Awaitable[Response]]

# Readers of cases: the officers and their heads see their own department's, executives and
# auditors every organisation's matters (auditors redacted).
CASE_READERS = (Role.OFFICER, Role.HEAD, Role.EXECUTIVE, Role.AUDITOR)
CASE_WORKERS = (Role.OFFICER, Role.HEAD, Role.EXECUTIVE)
OVERSEERS = (Role.EXECUTIVE, Role.AUDITOR)


@dataclass(frozen=True)
class Access:
    """The roles that may call an endpoint; none, with `public` saying why anyone may."""

    roles: frozenset[Role]
    public: str | None = None

    def allows(self, roles: frozenset[Role]) -> bool:
        return self.public is not None or not self.roles.isdisjoint(roles)

    def describe(self) -> str:
        if self.public is not None:
            return f"anyone ({self.public})"
        return ", ".join(r.value for r in Role if r in self.roles)


def roles(*allowed: Role) -> Access:
    if not allowed:
        raise ValueError("name the roles, or use anyone(...) for a public endpoint")
    return Access(frozenset(allowed))


def anyone(because: str) -> Access:
    """A public endpoint; `because` names the credential it checks itself, or why none."""
    return Access(frozenset(), because)


class Endpoint(Route):
    """A route that carries its `Access` and enforces it before its handler runs."""

    def __init__(self, path: str, handler: Handler, methods: Sequence[str], access: Access) -> None:
        self.access = access
        self.handler = handler
        if access.public is None:
            wanted = tuple(access.roles)

            async def guarded(request: Request) -> Response:
                await require(request, *wanted)
                return await handler(request)

            call: Handler = guarded
        else:
            call = handler
        super().__init__(path, call, methods=list(methods), name=handler.__name__)


def unguarded(routes: Sequence[BaseRoute]) -> list[str]:
    """The paths among `routes` that declare no access (what the tests refuse)."""
    return [getattr(r, "path", repr(r)) for r in routes if not isinstance(r, Endpoint)]
