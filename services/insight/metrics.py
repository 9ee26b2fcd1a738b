from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class InsightMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.applied = Counter(
            "ruam_insight_events_applied_total",
            "Case and survey events applied to a case's facts, by topic",
            ["topic"],
            registry=registry,
        )
        self.duplicates = Counter(
            "ruam_insight_duplicates_total",
            "Events already applied (a redelivery or a replay), absorbed, by topic",
            ["topic"],
            registry=registry,
        )
        self.changes = Counter(
            "ruam_insight_figure_changes_total",
            "Changes added to the figures' buckets (one per bucket a case moved in)",
            registry=registry,
        )
        self.resumed = Counter(
            "ruam_insight_pending_resumed_total",
            "Changes a crashed or raced handling left pending, finished by the next one",
            registry=registry,
        )
        self.recorded = Counter(
            "ruam_insight_records_total",
            "Consultations, findings, actions and follow-ups recorded, by kind",
            ["kind"],
            registry=registry,
        )
