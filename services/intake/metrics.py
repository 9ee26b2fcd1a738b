from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "ruam_submissions_accepted_total",
            "Submissions that became a new case, by channel and kind",
            ["channel", "kind"],
            registry=registry,
        )
        self.duplicates = Counter(
            "ruam_submissions_duplicate_total",
            "Submissions already seen (same channel + channel message id), by channel",
            ["channel"],
            registry=registry,
        )
        self.refused = Counter(
            "ruam_submissions_refused_total",
            "Submissions refused as malformed, by channel and reason",
            ["channel", "reason"],
            registry=registry,
        )
