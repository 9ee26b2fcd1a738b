from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cases_assigned = Counter(
            "ruam_cases_assigned_total",
            "Cases given an owner, by department",
            ["department"],
            registry=registry,
        )
        self.redeliveries = Counter(
            "ruam_routing_redeliveries_total",
            "case.received events whose effect was already stored (absorbed, not doubled)",
            registry=registry,
        )
