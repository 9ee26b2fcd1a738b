from __future__ import annotations


class RoutingError(Exception):
    """Base of routing's domain refusals."""


class CaseNotFound(RoutingError):
    pass


class InvalidTransition(RoutingError):
    """An officer action that the case's current state does not allow (HTTP 409)."""
