"""Insight's refusals: what the HTTP API answers, and why."""

from __future__ import annotations


class InsightError(Exception):
    pass


class InvalidPlan(InsightError):
    """A consultation, finding, action or follow-up that can never be accepted as sent."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class NotAllowedNow(InsightError):
    """Allowed in general, not in the plan's state now (409)."""


class NotFound(InsightError):
    pass


class OutOfScope(InsightError):
    """An officer or head asking for another department's plan (403)."""
