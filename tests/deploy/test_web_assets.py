"""deploy/local/web_assets.py on tarballs made here: what it installs, that a second run
does nothing, and that bytes other than the pinned ones are refused, from the cache or
from npm (no npm and no network are used: npm is replaced by a stand-in on PATH)."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from deploy.local import web_assets
from deploy.local.web_assets import AssetError, Package

FONT_CSS = """/* sarabun-thai-{w}-normal */
@font-face {{
  font-family: 'Sarabun';
  font-weight: {w};
  src: url(./files/sarabun-thai-{w}-normal.woff2) format('woff2');
  unicode-range: U+0E01-0E5B;
}}
/* sarabun-latin-{w}-normal */
@font-face {{
  font-family: 'Sarabun';
  font-weight: {w};
  src: url(./files/sarabun-latin-{w}-normal.woff2) format('woff2');
  unicode-range: U+0000-00FF;
}}
"""


def tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def pinned(package: Package, data: bytes) -> Package:
    """`package` pinned to `data`'s hash, as the script pins the real ones."""
    return Package(package.name, package.version, web_assets._sri(data), package.files)


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The three portal packages, as tarballs in a cache of the test's own."""
    monkeypatch.setattr(web_assets, "CACHE_DIR", tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    made = {
        "leaflet": tarball({src: f"leaflet {src}".encode() for src, _ in web_assets.LEAFLET.files}),
        "chart.js": tarball({"dist/chart.umd.js": b"/* chart */"}),
        "@fontsource/sarabun": tarball(
            {
                **{src: src.encode() for src, _ in web_assets.SARABUN.files},
                "400.css": FONT_CSS.format(w=400).encode(),
                "700.css": FONT_CSS.format(w=700).encode(),
            }
        ),
    }
    ours = tuple(
        pinned(p, made[p.name])
        for p in (web_assets.LEAFLET, web_assets.CHART_JS, web_assets.SARABUN)
    )
    monkeypatch.setattr(web_assets, "PORTAL_PACKAGES", ours)
    monkeypatch.setattr(web_assets, "SARABUN", ours[2])
    for package in ours:
        package.tarball.write_bytes(made[package.name])
    return made


@pytest.fixture
def no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `npm` on PATH that records that it was called and fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "npm-calls"}\nexit 1\n')
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "npm-calls"


def test_installs_every_file_the_portal_serves_and_our_font_faces(
    packages: dict[str, bytes], tmp_path: Path, no_npm: Path
) -> None:
    vendor = tmp_path / "vendor"
    web_assets.install(vendor)
    for rel in (
        "leaflet/leaflet.js",
        "leaflet/leaflet.css",
        "leaflet/images/marker-icon.png",
        "chart.js/chart.umd.js",
        "fonts/sarabun-thai-400-normal.woff2",
        "fonts/sarabun-latin-700-normal.woff2",
    ):
        assert (vendor / rel).is_file(), rel
    css = (vendor / "fonts/sarabun.css").read_text()
    assert css.count("@font-face") == 4
    assert "url(./sarabun-thai-700-normal.woff2)" in css
    assert "unicode-range: U+0E01-0E5B;" in css and "unicode-range: U+0000-00FF;" in css
    assert web_assets.installed(vendor)
    assert not no_npm.exists()  # everything came from the cache


def test_a_second_run_changes_nothing(packages: dict[str, bytes], tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    web_assets.install(vendor)
    stamp = vendor / web_assets.STAMP
    before = {p: p.stat().st_mtime_ns for p in vendor.rglob("*")}
    for package in web_assets.PORTAL_PACKAGES:
        package.tarball.unlink()  # not even read again
    web_assets.install(vendor)
    assert {p: p.stat().st_mtime_ns for p in vendor.rglob("*")} == before
    assert json.loads(stamp.read_text())["chart.js/chart.umd.js"] == "chart.js@4.5.1"


def test_a_missing_file_is_installed_again(packages: dict[str, bytes], tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    web_assets.install(vendor)
    (vendor / "chart.js/chart.umd.js").unlink()
    assert not web_assets.installed(vendor)
    web_assets.install(vendor)
    assert (vendor / "chart.js/chart.umd.js").read_bytes() == b"/* chart */"


def test_a_cached_tarball_that_is_not_the_pinned_one_is_fetched_again_and_refused(
    packages: dict[str, bytes], tmp_path: Path, no_npm: Path
) -> None:
    chart = web_assets.PORTAL_PACKAGES[1]
    chart.tarball.write_bytes(tarball({"dist/chart.umd.js": b"/* tampered */"}))
    with pytest.raises(AssetError, match=r"npm pack chart\.js@4\.5\.1 failed"):
        web_assets.install(tmp_path / "vendor")
    assert no_npm.read_text().startswith("pack chart.js@4.5.1 --json")


def test_what_npm_packs_must_hash_to_the_pinned_sha512(
    packages: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """npm reporting the pinned integrity is not enough: the bytes are hashed here."""
    chart = web_assets.PORTAL_PACKAGES[1]
    chart.tarball.unlink()
    other = tarball({"dist/chart.umd.js": b"/* another build */"})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "other.tgz").write_bytes(other)
    npm = bin_dir / "npm"
    # Writes another tarball where asked, and claims the pinned integrity for it.
    npm.write_text(
        "#!/bin/sh\n"
        f'cp {tmp_path / "other.tgz"} "$5/chart.js-4.5.1.tgz"\n'
        f'echo \'[{{"filename": "chart.js-4.5.1.tgz", "integrity": "{chart.integrity}"}}]\'\n'
    )
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(AssetError, match="not the pinned one"):
        web_assets.fetch(chart)
    assert not chart.tarball.exists()


def test_the_real_pins_are_sha512_of_exact_versions() -> None:
    for package in (*web_assets.PORTAL_PACKAGES, web_assets.AXE_CORE):
        assert package.integrity.startswith("sha512-") and len(package.integrity) == 95
        assert all(part.isdigit() for part in package.version.split(".")), package.spec
    assert web_assets.CHART_JS.version.startswith("4.")
    assert web_assets.AXE_CORE.version.startswith("4.")
