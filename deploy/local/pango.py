#!/usr/bin/env python3
"""Debian's Pango (with HarfBuzz's subsetter), which WeasyPrint needs to lay out insight's
quarterly report as PDF and shape its Thai.

Stdlib only. Installs the libraries with apt-get when one of them is missing; does nothing
otherwise (as deploy/local/chromium.py does for the browser tests).

    deploy/local/pango.py            # install when missing
    deploy/local/pango.py --check    # exit 1 when missing, install nothing

Installing needs root or a sudo that asks for no password.
"""

from __future__ import annotations

import argparse
import ctypes.util
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file, as make does
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local.debian import apt_install

# library (as ctypes finds it) -> the Debian package that ships it
LIBRARIES = {
    "pango-1.0": "libpango-1.0-0",
    "pangoft2-1.0": "libpangoft2-1.0-0",
    "harfbuzz": "libharfbuzz0b",
    "harfbuzz-subset": "libharfbuzz-subset0",
    "fontconfig": "libfontconfig1",
}


def _log(msg: str) -> None:
    print(f"[pango] {msg}", flush=True)


def missing() -> list[str]:
    return [pkg for lib, pkg in LIBRARIES.items() if ctypes.util.find_library(lib) is None]


def install() -> None:
    wanted = missing()
    if not wanted:
        return
    apt_install(wanted, "pango")
    if missing():
        raise SystemExit(f"[pango] ERROR: still missing: {' '.join(missing())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pango.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether they are there")
    args = parser.parse_args(argv)
    if args.check:
        gone = missing()
        _log("ready" if not gone else f"missing: {' '.join(gone)} (deploy/local/pango.py)")
        return 0 if not gone else 1
    try:
        install()
    except subprocess.CalledProcessError as exc:
        print(f"[pango] ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    _log("ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
