"""Reads the site's organisation file (config/<org_id>.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.portal.domain.site import Site

SHIPPED = Path(__file__).resolve().parents[1] / "config"


def load_site(org_id: str, config_dir: Path | None = None) -> Site:
    path = (config_dir or SHIPPED) / f"{org_id}.yaml"
    return Site.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
