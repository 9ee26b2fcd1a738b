"""Reading the service's versioned configuration (questionnaires, campaigns, rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.survey.domain.model import (
    AlertPolicy,
    Campaign,
    Labels,
    Questionnaire,
    SurveyConfig,
)

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "config"


def _read(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def load_config(directory: Path | None = None) -> SurveyConfig:
    """Load and validate everything; a broken file stops start-up with its name."""
    base = directory or DEFAULT_DIR
    questionnaires: dict[str, Questionnaire] = {}
    for path in sorted((base / "questionnaires").glob("*.yaml")):
        q = Questionnaire.model_validate(_read(path))
        if q.version in questionnaires:
            raise ValueError(f"{path}: questionnaire version {q.version} defined twice")
        questionnaires[q.version] = q
    campaigns = {
        c.id: c
        for c in (
            Campaign.model_validate(raw)
            for raw in _read(base / "campaigns.yaml").get("campaigns", [])
        )
    }
    policy = AlertPolicy.model_validate(_read(base / "alert_rules.yaml"))
    labels = Labels.model_validate(_read(base / "report.yaml"))
    if policy.case_questionnaire not in questionnaires:
        raise ValueError(f"alert_rules.yaml: no questionnaire {policy.case_questionnaire}")
    for c in campaigns.values():
        if c.questionnaire not in questionnaires:
            raise ValueError(f"campaigns.yaml: {c.id} names unknown {c.questionnaire}")
    return SurveyConfig(questionnaires, campaigns, policy, labels)
