"""deploy/local/prometheus.py's build, with Go replaced by a stand-in that "builds" scripts
reporting the version its -ldflags name: what it asks of Go, the cache, a rebuild when the
cached binary is not ours, and nothing left behind by a failed build."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deploy.local import prometheus

FAKE_GO = r"""#!/usr/bin/env bash
# Stand-in for `go install`: records its arguments, then writes each named command into
# $GOBIN as a script printing what `--version` prints, from the -X flags it was given.
echo "$*" >> "$FAKE_GO_LOG"
[[ "${FAKE_GO_FAIL:-}" == 1 ]] && { echo "build failed on purpose" >&2; exit 1; }
version=$(sed -n 's/.*version\.Version=\([^ ]*\).*/\1/p' <<<"$*")
branch=$(sed -n 's/.*version\.Branch=\([^ ]*\).*/\1/p' <<<"$*")
for arg in "$@"; do
  case "$arg" in
    */cmd/*@*)
      tool=${arg##*/cmd/}; tool=${tool%@*}
      printf '#!/bin/sh\necho "%s, version %s (branch: %s, revision: x)"\n' \
        "$tool" "$version" "$branch" > "$GOBIN/$tool"
      chmod +x "$GOBIN/$tool";;
  esac
done
"""


@pytest.fixture
def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tools = tmp_path / "go-bin"
    tools.mkdir()
    go = tools / "go"
    go.write_text(FAKE_GO)
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "go.log"
    monkeypatch.setenv("FAKE_GO_LOG", str(log))
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setattr(prometheus, "BIN_DIR", tmp_path / "cache" / "bin")
    return log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_both_are_built_in_one_go_install_and_then_reused(fake_go: Path) -> None:
    paths = prometheus.build()
    assert paths == {tool: prometheus.BIN_DIR / tool for tool in ("promtool", "prometheus")}
    [call] = calls(fake_go)
    assert call.startswith("install -trimpath -tags=remove_all_sd -ldflags=")
    assert "version.Version=v0.316.0" in call and "version.Branch=ruam-local" in call
    assert call.endswith(
        "github.com/prometheus/prometheus/cmd/promtool@v0.316.0 "
        "github.com/prometheus/prometheus/cmd/prometheus@v0.316.0"
    )
    assert all(prometheus.is_built(tool) for tool in paths)
    assert prometheus.build(["promtool"]) == {"promtool": paths["promtool"]}
    assert len(calls(fake_go)) == 1  # found in the cache: no Go run
    # Nothing of the build is left beside the binaries.
    assert sorted(p.name for p in prometheus.BIN_DIR.iterdir()) == [
        ".prometheus-build.lock",
        "prometheus",
        "promtool",
    ]


def test_a_cached_binary_that_is_not_ours_is_built_again(fake_go: Path) -> None:
    prometheus.BIN_DIR.mkdir(parents=True)
    other = prometheus.BIN_DIR / "promtool"
    other.write_text('#!/bin/sh\necho "promtool, version 3.5.0 (branch: HEAD, revision: y)"\n')
    other.chmod(0o755)
    assert not prometheus.is_built("promtool")
    prometheus.build(["promtool"])
    [call] = calls(fake_go)
    assert "cmd/promtool@v0.316.0" in call and "cmd/prometheus@" not in call
    assert prometheus.is_built("promtool")


def test_a_failed_build_leaves_no_binary(fake_go: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_GO_FAIL", "1")
    with pytest.raises(prometheus.BuildError, match="build failed on purpose"):
        prometheus.build(["promtool"], quiet=True)
    assert [p.name for p in prometheus.BIN_DIR.iterdir()] == [".prometheus-build.lock"]


def test_without_go_the_build_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus, "BIN_DIR", tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(prometheus.BuildError, match="go not found"):
        prometheus.build(["promtool"], quiet=True)
    with pytest.raises(ValueError, match="unknown tool"):
        prometheus.build(["grafana"])
