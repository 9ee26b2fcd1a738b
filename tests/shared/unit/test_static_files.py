"""`shared.http.static_file`: a site's own files, and a plain 404 for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.http import static_file


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "map.js").write_text("let map;")
    (tmp_path / "own" / "sarabun.woff2").write_bytes(b"wOF2")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "leaflet.js").write_text("L")
    (tmp_path / "secret.txt").write_text("not for the web")
    return tmp_path


def test_a_file_is_served_with_its_type_and_cache_time(site: Path) -> None:
    r = static_file(site / "own", "map.js", max_age=60)
    assert r.status_code == 200 and r.media_type == "text/javascript"
    assert r.headers["cache-control"] == "public, max-age=60"
    assert static_file(site / "own", "sarabun.woff2", max_age=60).media_type == "font/woff2"


def test_a_prefix_is_looked_for_beside_the_root(site: Path) -> None:
    beside = {"vendor/": site / "vendor"}
    assert (
        static_file(site / "own", "vendor/leaflet.js", max_age=1, beside=beside).status_code == 200
    )
    escape = static_file(site / "own", "vendor/../secret.txt", max_age=1, beside=beside)
    assert escape.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",  # outside the root
        "nothing.js",
        "",  # the root itself, a directory
        "x" * 5_000,  # a name the file system refuses as too long: was a 500
        "a" * 300 + "/b.js",
        "map.js\x00.png",  # a NUL byte
        "/etc/passwd",  # an absolute path replaces the root when joined
    ],
)
def test_anything_else_is_a_plain_404(site: Path, path: str) -> None:
    r = static_file(site / "own", path, max_age=1)
    assert r.status_code == 404 and r.body == b"not found"
