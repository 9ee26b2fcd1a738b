from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class SurveyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requested = Counter(
            "ruam_surveys_requested_total",
            "Surveys created after a resolved case, by case channel",
            ["channel"],
            registry=registry,
        )
        self.responses = Counter(
            "ruam_survey_responses_total",
            "Responses accepted (each counted once), by source and channel",
            ["source", "channel"],
            registry=registry,
        )
        self.refused = Counter(
            "ruam_survey_responses_refused_total",
            "Responses refused, by reason (invalid, duplicate, expired, unknown)",
            ["reason"],
            registry=registry,
        )
        self.alerts = Counter(
            "ruam_satisfaction_alerts_total",
            "Satisfaction alerts raised (each once), by rule",
            ["rule"],
            registry=registry,
        )
        self.response_ratio = Gauge(
            "ruam_survey_response_ratio",
            "Case surveys answered per survey sent, by fiscal year (BE)",
            ["fiscal_year"],
            registry=registry,
        )
        self.percent_satisfied = Gauge(
            "ruam_satisfaction_percent_satisfied",
            "Share of scale answers at 4 or 5, by department and fiscal year (BE)",
            ["department", "fiscal_year"],
            registry=registry,
        )
        self.mean_score = Gauge(
            "ruam_satisfaction_mean_score",
            "Mean of all scale answers (1-5), by department and fiscal year (BE)",
            ["department", "fiscal_year"],
            registry=registry,
        )
        self.department_responses = Gauge(
            "ruam_satisfaction_responses",
            "Responses counted, by department and fiscal year (BE)",
            ["department", "fiscal_year"],
            registry=registry,
        )
