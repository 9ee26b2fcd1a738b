from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SurveySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SURVEY_", extra="ignore", populate_by_name=True)

    service_name: str = "survey"
    http_port: int = 8003
    # A survey link is good for this long after the case was resolved.
    token_ttl_days: int = 30
    # Where citizens open a survey; the token is appended. The public website's form
    # (services/portal), which posts the answers to this service's API.
    public_base_url: str = "http://127.0.0.1:8005/survey/"
    # Questionnaires, campaigns, alert rules, report names; None = the shipped config/.
    config_dir: Path | None = None
    max_body_bytes: int = 1_000_000
    # Paper forms per CSV upload: a day's keying-in, not a database import.
    max_csv_rows: int = 5_000
