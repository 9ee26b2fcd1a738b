"""Errors that cross layers: how a service tells 'bad input' from 'try again'."""

from __future__ import annotations


class PermanentError(Exception):
    """Input that will never succeed as it is: dead-letter it, don't retry it."""


class ConcurrencyError(Exception):
    """Someone else changed the aggregate first: reload and decide again."""
