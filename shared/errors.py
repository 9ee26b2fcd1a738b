"""Errors that cross layers: how a service tells 'bad input' from 'try again'."""

from __future__ import annotations

import json

from pydantic import ValidationError


class PermanentError(Exception):
    """Input that will never succeed as it is: dead-letter it, don't retry it."""


class ConcurrencyError(Exception):
    """Someone else changed the aggregate first: reload and decide again."""


class WriteUncertain(ConnectionError):
    """A write may or may not have landed (as when a connection drops after sending): no
    decision may be made again on it. The whole request is tried again, idempotently, as
    after any transient fault."""


# What a message can fail with that no retry will mend: it is dead-lettered at once, and a
# replay that meets it again is refused with the reason.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    PermanentError,
)
