from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


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
