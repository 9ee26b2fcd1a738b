"""The organisation's directory as insight needs it: department and village names and
each village's population, read from routing's directory file (one per organisation,
services/routing/config/orgs/<org_id>.yaml), the one place they are written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Directory:
    org_id: str
    name_th: str = ""
    departments: dict[str, str] = field(default_factory=dict)  # code -> Thai name
    villages: dict[int, str] = field(default_factory=dict)  # หมู่ที่ -> name
    population: dict[int, int] = field(default_factory=dict)  # หมู่ที่ -> residents


def load_directory(config_dir: Path, org_id: str) -> Directory:
    path = config_dir / f"{org_id}.yaml"
    if not path.exists():
        return Directory(org_id)
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    villages = data.get("villages") or []
    return Directory(
        org_id=org_id,
        name_th=str(data.get("name_th") or ""),
        departments={
            str(d["code"]): str(d.get("name_th") or d["code"])
            for d in data.get("departments") or []
        },
        villages={int(v["village_no"]): str(v.get("name") or "") for v in villages},
        population={
            int(v["village_no"]): int(v["population"])
            for v in villages
            if v.get("population") is not None
        },
    )
