#!/usr/bin/env python3
"""Debian's chromium and chromium-driver, which the portal's browser tests drive.

Stdlib only. Installs both packages with apt-get when either program is missing or their
major versions differ (a driver must match its browser); does nothing otherwise.

    deploy/local/chromium.py            # install when missing, print both versions
    deploy/local/chromium.py --check    # exit 1 when missing, install nothing

Installing needs root (as on the CI and dev machines, where `make test` runs as root) or a
sudo that asks for no password.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file, as make does
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local.debian import apt_install

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PACKAGES = ("chromium", "chromium-driver")


def _log(msg: str) -> None:
    print(f"[chromium] {msg}", flush=True)


def _major(argv: list[str]) -> int | None:
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)\.\d+\.\d+", out)
    return int(found.group(1)) if found else None


def versions() -> tuple[int | None, int | None]:
    """The major versions of the browser and the driver (None: missing or broken)."""
    return _major([CHROMIUM, "--version"]), _major([CHROMEDRIVER, "--version"])


def ready() -> bool:
    browser, driver = versions()
    return browser is not None and browser == driver


def install() -> None:
    if ready():
        return
    apt_install(PACKAGES, "chromium")
    if not ready():
        browser, driver = versions()
        raise SystemExit(f"[chromium] ERROR: chromium {browser} and chromedriver {driver} differ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chromium.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether they are there")
    args = parser.parse_args(argv)
    if args.check:
        ok = ready()
        _log("ready" if ok else "missing (deploy/local/chromium.py installs them)")
        return 0 if ok else 1
    try:
        install()
    except subprocess.CalledProcessError as exc:
        print(f"[chromium] ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    browser, driver = versions()
    _log(f"chromium {browser}, chromedriver {driver}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
