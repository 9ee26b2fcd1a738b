"""Per-organisation rule files: config/<org_id>.yaml, default.yaml for the rest."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.compliance.domain.errors import PolicyError
from services.compliance.domain.policy import Policies, Policy

DEFAULT = "default"


def load_policies(config_dir: Path) -> Policies:
    by_org: dict[str, Policy] = {}
    default: Policy | None = None
    for path in sorted(config_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise PolicyError(f"{path} does not hold a mapping")
        policy = Policy.from_mapping(path.stem, data)
        if path.stem == DEFAULT:
            default = policy
        else:
            by_org[path.stem] = policy
    if default is None:
        raise PolicyError(f"no {DEFAULT}.yaml in {config_dir}")
    return Policies(default, by_org)
