from __future__ import annotations

from shared.errors import PermanentError


class ComplianceError(PermanentError):
    """Base of compliance's refusals; on Kafka they are dead-lettered with the reason."""


class InvalidProjectEvent(ComplianceError):
    """An event whose shape passed but whose content can never apply (e.g. a negative
    budget). The message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ProjectNotFound(ComplianceError, LookupError):
    """No registered project by that id (HTTP 404). Also a LookupError, the type the
    handlers have raised for it, so callers catching that still catch this."""


class WrongSource(ComplianceError):
    """A project is fed by one source: its planning system on Kafka, or manual entry."""


class NotYours(ComplianceError):
    """Another organisation's project (HTTP 403): never changeable by this caller, whatever
    its state, so not a 409. Its existence is no secret: the register is published."""


class ChangeRefused(ComplianceError):
    """A well-formed change the project's state does not allow (HTTP 409). On Kafka it
    is recorded on the timeline and its version consumed, so one refusal never blocks
    the versions after it."""


class PolicyError(ValueError):
    """A configuration file that does not describe a usable rule."""
