from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ComplianceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.applied = Counter(
            "ruam_compliance_changes_applied_total",
            "Project changes applied to the register, by action and source",
            ["action", "source"],
            registry=registry,
        )
        self.refused = Counter(
            "ruam_compliance_changes_refused_total",
            "Well-formed project changes the project's state did not allow, by source",
            ["source"],
            registry=registry,
        )
        self.parked = Counter(
            "ruam_compliance_events_parked_total",
            "Events that arrived ahead of a missing version and were kept until it came",
            registry=registry,
        )
        self.duplicates = Counter(
            "ruam_compliance_duplicates_total",
            "Events or requests already applied (absorbed, not doubled), by source",
            ["source"],
            registry=registry,
        )
        self.requirements_raised = Counter(
            "ruam_compliance_requirements_raised_total",
            "Participation requirements raised, by requirement kind",
            ["requirement"],
            registry=registry,
        )
        self.requirements_met = Counter(
            "ruam_compliance_requirements_met_total",
            "Participation requirements met by recorded participation, by requirement kind",
            ["requirement"],
            registry=registry,
        )
        self.violations = Counter(
            "ruam_compliance_violations_total",
            "Compliance violations raised, by requirement and severity",
            ["requirement", "severity"],
            registry=registry,
        )
        self.warnings = Counter(
            "ruam_compliance_warnings_total",
            "Compliance warnings raised, by code",
            ["code"],
            registry=registry,
        )
        self.violations_open = Gauge(
            "ruam_participation_violations_open",
            "Participation violations recorded on registered projects (measure 5)",
            registry=registry,
        )
        # Counters restart with the process; these show the register as it stands.
        self.projects = Gauge(
            "ruam_compliance_projects",
            "Registered projects, by state (all, requiring participation, with violations)",
            ["state"],
            registry=registry,
        )
