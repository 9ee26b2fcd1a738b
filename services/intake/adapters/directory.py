"""Department names from routing's organisation directory (read-only), for Open311's
`agency_responsible`. Missing or unreadable: the department code is shown instead."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

log = logging.getLogger("ruam.intake.directory")

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "routing" / "config" / "orgs"


def department_names(org_id: str, path: str = "") -> dict[str, str]:
    file = Path(path) if path else DEFAULT_ROOT / f"{org_id}.yaml"
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        log.warning("no department names (%s): agency_responsible shows codes", exc)
        return {}
    names: dict[str, str] = {}
    departments = data.get("departments") if isinstance(data, dict) else None
    for dept in departments or []:
        if isinstance(dept, dict) and dept.get("code") and dept.get("name_th"):
            names[str(dept["code"])] = str(dept["name_th"])
    return names
