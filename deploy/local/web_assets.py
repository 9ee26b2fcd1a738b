#!/usr/bin/env python3
"""The portal's third-party web assets: npm packages at exact versions, checked, cached,
and copied where the portal serves them.

Stdlib only (Python 3.11+), like stack.py, so `make install` runs it before the venv is
used. Each package is fetched once with `npm pack <name>@<version>` (npm verifies the
tarball against the registry's integrity), checked again here against the sha512 pinned
below, and kept in ``$RUAM_CACHE/web/`` (``~/.cache/ruam/web/``). Then the files the
portal needs are copied into ``services/portal/static/vendor/`` (git-ignored):

    leaflet/leaflet.js, leaflet/leaflet.css, leaflet/images/*   the map of public cases
    chart.js/chart.umd.js                                        the statistics charts
    fonts/sarabun.css, fonts/sarabun-{thai,latin}-{400,700}-normal.woff2

axe-core, which only the browser tests run, stays in the cache: ``axe_script()`` gives
its path.

    deploy/local/web_assets.py [install] [--vendor DIR]   # fetch what is missing, install
    deploy/local/web_assets.py axe                        # print the path of axe.min.js

A second run with everything in place reads the tarballs' hashes and the installed files'
stamp, and starts no npm (well under a second).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("RUAM_CACHE") or Path.home() / ".cache" / "ruam") / "web"
VENDOR_DIR = REPO_ROOT / "services" / "portal" / "static" / "vendor"


class AssetError(RuntimeError):
    """A package could not be fetched, or is not the one pinned."""


@dataclasses.dataclass(frozen=True)
class Package:
    name: str
    version: str
    # The tarball's sha512 as npm writes it (`dist.integrity`); a tarball that hashes
    # otherwise is refused, whatever npm said about it.
    integrity: str
    # Member of the tarball (under package/) -> path under the vendor directory.
    files: tuple[tuple[str, str], ...]

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball(self) -> Path:
        # npm's own file name: @scope/name -> scope-name-<version>.tgz
        return CACHE_DIR / f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


LEAFLET = Package(
    "leaflet",
    "1.9.4",
    "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
    (
        ("dist/leaflet.js", "leaflet/leaflet.js"),
        ("dist/leaflet.css", "leaflet/leaflet.css"),
        *(
            (f"dist/images/{image}", f"leaflet/images/{image}")
            for image in (
                "layers.png",
                "layers-2x.png",
                "marker-icon.png",
                "marker-icon-2x.png",
                "marker-shadow.png",
            )
        ),
    ),
)
# 4.5.1: the newest 4.x that has been out for a year; chart.umd.js is already minified.
CHART_JS = Package(
    "chart.js",
    "4.5.1",
    "sha512-GIjfiT9dbmHRiYi6Nl2yFCq7kkwdkp1W/lp2J99rX0yo9tgJGn3lKQATztIjb5tVtevcBtIdICNWqlq5+E8/Pw==",
    (("dist/chart.umd.js", "chart.js/chart.umd.js"),),
)
# Only the Thai and Latin subsets of the two weights the pages use: four files of ~10 KB.
FONT_FILES = tuple(
    f"sarabun-{subset}-{weight}-normal.woff2"
    for subset in ("thai", "latin")
    for weight in (400, 700)
)
SARABUN = Package(
    "@fontsource/sarabun",
    "5.3.0",
    "sha512-8GWxnEIG9g/2JlZxU+APaVwipcLMkZkBps9N1tEyBxXWaJEnAtHpuaDYmFVG7lzTgr28orG7//htD/rfxDlfFg==",
    tuple((f"files/{f}", f"fonts/{f}") for f in FONT_FILES),
)
AXE_CORE = Package(
    "axe-core",
    "4.13.0",
    "sha512-UzGt8zg7Ny8djbYMhxl2zuEevVa7r2gJjYY5Lwr1xM7+XU2nd6CkIWFTVcCIbAP63vSz71NaVyyuSk9lHKcy0A==",
    (("axe.min.js", "axe.min.js"),),
)
PORTAL_PACKAGES = (LEAFLET, CHART_JS, SARABUN)
STAMP = ".installed.json"


def _log(msg: str) -> None:
    print(f"[web-assets] {msg}", flush=True)


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """`make test` and `make demo` may fetch at once; one writes, the other then finds it."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _verified(package: Package) -> bytes | None:
    try:
        data = package.tarball.read_bytes()
    except FileNotFoundError:
        return None
    return data if _sri(data) == package.integrity else None


def fetch(package: Package) -> bytes:
    """The package's tarball, from the cache or else from npm; always the pinned bytes."""
    data = _verified(package)
    if data is not None:
        return data
    if shutil.which("npm") is None:
        raise AssetError(f"{package.spec} is not cached and npm is not on PATH")
    _log(f"fetching {package.spec} with npm pack")
    with tempfile.TemporaryDirectory(prefix="ruam-npm-") as tmp:
        # cwd is an empty directory: npm must not read a project's .npmrc or package.json.
        done = subprocess.run(
            ["npm", "pack", package.spec, "--json", "--pack-destination", tmp],
            cwd=tmp,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise AssetError(f"npm pack {package.spec} failed:\n{done.stderr[-2000:]}")
        packed = json.loads(done.stdout)[0]
        if packed.get("integrity") != package.integrity:
            raise AssetError(
                f"{package.spec}: npm reports integrity {packed.get('integrity')}, "
                f"pinned {package.integrity}"
            )
        data = (Path(tmp) / str(packed["filename"])).read_bytes()
    if _sri(data) != package.integrity:
        raise AssetError(f"{package.spec}: the tarball's sha512 is not the pinned one")
    partial = package.tarball.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(package.tarball)
    return data


def _members(data: bytes, wanted: set[str]) -> dict[str, bytes]:
    """The named files of an npm tarball (paths under its package/ folder)."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/")
            if name in wanted and member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    out[name] = extracted.read()
    missing = wanted - out.keys()
    if missing:
        raise AssetError(f"not in the tarball: {', '.join(sorted(missing))}")
    return out


_FACE = re.compile(
    r"/\* sarabun-(?P<subset>[a-z-]+)-(?P<weight>\d+)-normal \*/\s*@font-face\s*\{(?P<body>[^}]*)\}"
)


def sarabun_css(data: bytes) -> str:
    """Our @font-face rules for the files we copy. The unicode ranges are the package's own
    (its `400.css` and `700.css`), so the browser fetches the Latin file only for pages
    that have Latin letters, and the Thai file only for Thai."""
    sheets = _members(data, {"400.css", "700.css"})
    ranges: dict[tuple[str, str], str] = {}
    for text in sheets.values():
        for m in _FACE.finditer(text.decode()):
            found = re.search(r"unicode-range:\s*([^;]+);", m.group("body"))
            if found:
                ranges[(m.group("subset"), m.group("weight"))] = found.group(1).strip()
    rules = [f"/* Sarabun {SARABUN.version} (@fontsource/sarabun, OFL-1.1): written by"
             " deploy/local/web_assets.py */"]  # fmt: skip
    for file in FONT_FILES:
        _, subset, weight, _ = file.split("-", 3)
        unicode_range = ranges.get((subset, weight))
        if unicode_range is None:
            raise AssetError(f"no unicode-range for sarabun {subset} {weight} in the package")
        rules.append(
            "@font-face {\n"
            "  font-family: 'Sarabun';\n"
            "  font-style: normal;\n"
            "  font-display: swap;\n"
            f"  font-weight: {weight};\n"
            f"  src: url(./{file}) format('woff2');\n"
            f"  unicode-range: {unicode_range};\n"
            "}"
        )
    return "\n".join(rules) + "\n"


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(content)
    partial.replace(path)


def _wanted(vendor: Path) -> dict[str, str]:
    """What the vendor directory holds when it is complete: path -> package it came from."""
    out = {dest: p.spec for p in PORTAL_PACKAGES for _, dest in p.files}
    out["fonts/sarabun.css"] = SARABUN.spec
    return out


def installed(vendor: Path = VENDOR_DIR) -> bool:
    """True when `vendor` holds every file of the pinned versions (by the stamp we write)."""
    try:
        stamp = json.loads((vendor / STAMP).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return stamp == _wanted(vendor) and all((vendor / rel).is_file() for rel in stamp)


def install(vendor: Path = VENDOR_DIR) -> None:
    """Fetch what is missing and copy the portal's files into `vendor` (idempotent)."""
    if installed(vendor):
        return
    with _lock():
        for package in PORTAL_PACKAGES:
            data = fetch(package)
            files = _members(data, {src for src, _ in package.files})
            for src, dest in package.files:
                _write(vendor / dest, files[src])
            if package is SARABUN:
                _write(vendor / "fonts" / "sarabun.css", sarabun_css(data).encode())
        _write(vendor / STAMP, json.dumps(_wanted(vendor), indent=1, sort_keys=True).encode())
    _log(f"installed {', '.join(p.spec for p in PORTAL_PACKAGES)} into {vendor}")


def axe_script() -> Path:
    """axe.min.js of the pinned axe-core, unpacked in the cache (the tests inject it)."""
    target = CACHE_DIR / f"axe-core-{AXE_CORE.version}" / "axe.min.js"
    if target.is_file():
        return target
    with _lock():
        data = fetch(AXE_CORE)
        _write(target, _members(data, {"axe.min.js"})["axe.min.js"])
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="web_assets.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=("install", "axe"), default="install")
    parser.add_argument("--vendor", type=Path, default=VENDOR_DIR, help="where to install")
    args = parser.parse_args(argv)
    try:
        if args.command == "axe":
            print(axe_script())
        else:
            install(args.vendor)
            axe_script()  # the browser tests' too, so that `make test` fetches it up front
    except (AssetError, OSError, subprocess.SubprocessError) as exc:
        print(f"[web-assets] ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
