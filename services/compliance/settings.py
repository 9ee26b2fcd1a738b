from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

CONFIG_DIR = Path(__file__).resolve().parent / "config"


class ComplianceSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="COMPLIANCE_", extra="ignore", populate_by_name=True
    )

    service_name: str = "compliance"
    http_port: int = 8004
    max_body_bytes: int = 1_000_000
    # Shown on the evidence pack.
    org_name: str = "องค์การบริหารส่วนตำบลสระโพนทอง"
    # Per-organisation rule files: <org_id>.yaml, falling back to default.yaml.
    config_dir: Path = CONFIG_DIR
    # How often warnings before procurement and overdue report-backs are looked for.
    timer_interval_seconds: float = 60.0
