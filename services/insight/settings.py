from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


class InsightSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INSIGHT_", extra="ignore", populate_by_name=True)

    service_name: str = "insight"
    http_port: int = 8007
    max_body_bytes: int = 200_000
    # The organisation directory (departments, villages and their population): routing's.
    directory_dir: Path = ROOT / "services" / "routing" / "config" / "orgs"
    # A hotspot: the same category at one ~100 m cell this many times in this many days.
    hotspot_window_days: int = 60
    hotspot_at_least: int = 3
    # Where the report's Thai font is found (deploy/local/web_assets.py puts Sarabun there).
    font_dir: Path = ROOT / "services" / "portal" / "static" / "vendor" / "fonts"
