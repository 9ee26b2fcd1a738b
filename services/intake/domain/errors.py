from __future__ import annotations

from shared.errors import PermanentError


class IntakeError(PermanentError):
    """Input intake refuses; the message names the problem for the sender."""


class UnknownChannel(IntakeError):
    pass
