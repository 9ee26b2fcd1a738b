from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class PortalMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.kept = Gauge(
            "ruam_portal_read_model_items",
            "Projections the public website holds, by kind",
            ["kind"],
            registry=registry,
        )
        self.reports = Counter(
            "ruam_portal_reports_total",
            "Web-form reports, by outcome (accepted, refused, upstream_<status>)",
            ["outcome"],
            registry=registry,
        )
        self.pages = Counter(
            "ruam_portal_pages_total", "Pages served, by page", ["page"], registry=registry
        )
