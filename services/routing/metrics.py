from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.routing.adapters.open_cases import Standing
from shared.ops import age_seconds


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cases_assigned = Counter(
            "ruam_cases_assigned_total",
            "Cases given an owner (first assignment and re-routes), by department",
            ["department"],
            registry=registry,
        )
        self.redeliveries = Counter(
            "ruam_routing_redeliveries_total",
            "case.received events whose effect was already stored (absorbed, not doubled)",
            registry=registry,
        )
        self.actions = Counter(
            "ruam_case_actions_total",
            "Officer actions and commands applied, by action",
            ["action"],
            registry=registry,
        )
        self.refused = Counter(
            "ruam_case_actions_refused_total",
            "Officer actions and commands refused, by action and reason",
            ["action", "reason"],
            registry=registry,
        )
        self.escalations = Counter(
            "ruam_cases_escalated_total",
            "Escalations fired on missed reply deadlines, by level",
            ["level"],
            registry=registry,
        )
        self.timer_conflicts = Counter(
            "ruam_routing_timer_conflicts_total",
            "Timer firings lost to a concurrent change (fired by the next round instead)",
            registry=registry,
        )
        self.open = Gauge(
            "ruam_cases_open",
            "Open cases, by department and status (the working set, counted on a schedule)",
            ["department", "status"],
            registry=registry,
        )
        self.overdue = Gauge(
            "ruam_cases_overdue",
            "Open cases past their legal deadline, by department",
            ["department"],
            registry=registry,
        )
        self.signing_key_expiry = Gauge(
            "ruam_signing_key_expiry_seconds",
            "Seconds until the built-in issuer's signing key must be replaced (by key id)",
            ["kid"],
            registry=registry,
        )
        self.oldest_unacknowledged = Gauge(
            "ruam_case_oldest_unacknowledged_seconds",
            "Age of the oldest open case nobody has acknowledged yet (0: none)",
            registry=registry,
        )

    def show(self, standing: Standing, now: datetime, departments: set[str]) -> None:
        """Every department known gets its series, at 0 when it has nothing open: a series
        that vanishes reads as "no data", not as "nothing overdue"."""
        seen = {d for d, _ in standing.open} | set(standing.overdue) | departments
        self.open.clear()
        for (department, status), count in standing.open.items():
            self.open.labels(department, status).set(count)
        for department in seen:
            self.overdue.labels(department).set(standing.overdue.get(department, 0))
        self.oldest_unacknowledged.set(age_seconds(standing.oldest_unacknowledged, now))
