"""Routing's domain refusals. They are permanent: on Kafka they are dead-lettered with
the reason, over HTTP they become 4xx answers naming the problem."""

from __future__ import annotations

from shared.errors import PermanentError


class RoutingError(PermanentError):
    """Base of routing's domain refusals."""


class CaseNotFound(RoutingError):
    pass


class InvalidTransition(RoutingError):
    """An officer action that the case's current state does not allow (HTTP 409)."""


class InvalidCommand(RoutingError):
    """An action with a missing or wrong parameter (HTTP 422, naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownOrganisation(RoutingError):
    """No directory for the organisation an event names."""


class NotPermitted(RoutingError):
    """The signed-in person may not see or act on this case (HTTP 403)."""
