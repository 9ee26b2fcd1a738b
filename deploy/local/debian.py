"""Debian packages the project needs from the system, installed with apt-get when missing:
the one way chromium.py (browser tests) and pango.py (insight's PDF) install theirs.

Stdlib only. Needs root or a sudo that asks for no password.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence


def apt_install(packages: Sequence[str], tag: str) -> None:
    """apt-get install `packages` (after an update: a fresh machine has no package lists);
    SystemExit when neither root nor a password-less sudo can."""
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise SystemExit(
                f"[{tag}] ERROR: missing; install them as root: apt-get install -y "
                + " ".join(packages)
            )
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"[{tag}] installing {' '.join(packages)} with apt-get", flush=True)
    subprocess.run([*prefix, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*prefix, "apt-get", "install", "-y", "-q", *packages], check=True, env=env)
