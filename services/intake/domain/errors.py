from __future__ import annotations

from shared.errors import PermanentError


class IntakeError(PermanentError):
    """Input intake refuses; the message names the problem for the sender."""


class UnknownChannel(IntakeError):
    pass


class InvalidInput(IntakeError):
    """Malformed channel input; `field` names what to fix (HTTP 422, or 400 if structural)."""

    def __init__(self, field: str, message: str, *, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message
        self.status = status


class BadSignature(IntakeError):
    """A webhook whose signature does not verify: refuse it before reading it."""
