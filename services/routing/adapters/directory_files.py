"""Organisation directories from YAML files (`<dir>/<org_id>.yaml`), reloaded on change.

A file is re-read when its modification time changes, looked at no more often than every
`check_every` seconds so that a busy service does not stat it on every message. A file
that fails to parse or validate is refused with the reason logged, and the last valid
directory stays in force: a typo made while editing must not stop routing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from services.routing.domain.directory import Directory
from services.routing.domain.errors import UnknownOrganisation

log = logging.getLogger("ruam.routing.directory")

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "config" / "orgs"


def load_directory(path: Path) -> Directory:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the directory must be a mapping")
    return Directory.model_validate(data)


@dataclass
class _Loaded:
    directory: Directory
    mtime_ns: int
    checked: float


class DirectoryFiles:
    def __init__(self, root: Path | str = DEFAULT_ROOT, *, check_every: float = 3.0) -> None:
        self.root = Path(root)
        self.check_every = check_every
        self._loaded: dict[str, _Loaded] = {}

    def path_of(self, org_id: str) -> Path:
        if not org_id or "/" in org_id or org_id.startswith("."):
            raise UnknownOrganisation(f"no directory for organisation {org_id!r}")
        return self.root / f"{org_id}.yaml"

    def get(self, org_id: str) -> Directory:
        now = time.monotonic()
        current = self._loaded.get(org_id)
        if current is not None and now - current.checked < self.check_every:
            return current.directory
        path = self.path_of(org_id)
        try:
            mtime = path.stat().st_mtime_ns
        except OSError as exc:
            if current is not None:
                log.error("directory %s unreadable (%s); keeping the last valid one", path, exc)
                current.checked = now
                return current.directory
            raise UnknownOrganisation(f"no directory for organisation {org_id!r}") from exc
        if current is not None and mtime == current.mtime_ns:
            current.checked = now
            return current.directory
        try:
            directory = load_directory(path)
        except (OSError, ValueError, ValidationError, yaml.YAMLError) as exc:
            if current is None:
                raise UnknownOrganisation(f"directory {path} is invalid: {exc}") from exc
            log.error("directory %s refused, keeping the last valid one: %s", path, exc)
            # Remember the broken mtime so the same broken file is not re-parsed each time.
            self._loaded[org_id] = _Loaded(current.directory, mtime, now)
            return current.directory
        if current is not None:
            log.info("directory %s reloaded", path)
        self._loaded[org_id] = _Loaded(directory, mtime, now)
        return directory
