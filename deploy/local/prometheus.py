#!/usr/bin/env python3
"""Prometheus and promtool for the local stack and the rule tests, built with Go and cached.

Stdlib only, like stack.py. Built like FerretDB (build_ferretdb.sh): the Go toolchain fetches
the module `github.com/prometheus/prometheus` at a pinned version through Go's module proxy
(whatever `go env GOPROXY` names), and `go install` builds `cmd/promtool` and
`cmd/prometheus` into `$RUAM_CACHE/bin/`. A binary is used again when its `--version` names
the pinned module version and our build mark; otherwise it is built again.

Built with the tag `remove_all_sd`: the local stack and the tests only use `static_configs`,
and leaving out the cloud service discoveries (AWS, Azure, GCE, ...) roughly halves the build.
The web UI's compiled assets are not part of the Go module, so the built Prometheus answers
its HTTP API (`/api/v1/...`) but shows no UI pages.

    python3 deploy/local/prometheus.py build [promtool|prometheus ...]   # prints the paths
    python3 deploy/local/prometheus.py config --profile local            # the scrape config

`make up MONITORING=1` (deploy/local/stack.py `monitoring`) runs the built Prometheus for
the profile on 127.0.0.1:9090 (test 19090, chaos 29090; RUAM_PROMETHEUS_PORT), scraping its
services every 15 s with deploy/prometheus/alerts.yml, data in `<run_dir>/prometheus/`;
`make down` stops it with the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("RUAM_CACHE") or Path.home() / ".cache" / "ruam")
BIN_DIR = CACHE_DIR / "bin"
RULES_DIR = REPO_ROOT / "deploy" / "prometheus"

MODULE = "github.com/prometheus/prometheus"
VERSION = os.environ.get("RUAM_PROMETHEUS_VERSION", "v0.316.0")
TOOLS = ("promtool", "prometheus")
BUILD_TAGS = "remove_all_sd"
# Written into the binaries' version information (`--version` prints it as the branch), so a
# binary from another build of the same version (a release download, a build with every
# discovery) is not mistaken for ours.
BUILD_MARK = "ruam-local"
BUILD_TIMEOUT = float(os.environ.get("RUAM_PROMETHEUS_BUILD_TIMEOUT", "3600"))


class BuildError(RuntimeError):
    """Go is missing, or the build failed."""


def binary(tool: str) -> Path:
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; expected one of {', '.join(TOOLS)}")
    return BIN_DIR / tool


def _ldflags() -> str:
    pkg = "github.com/prometheus/common/version"
    return " ".join(
        [
            f"-X {pkg}.Version={VERSION}",
            f"-X {pkg}.Branch={BUILD_MARK}",
            f"-X {pkg}.Revision={VERSION}",
            f"-X {pkg}.BuildUser={BUILD_MARK}",
        ]
    )


def is_built(tool: str) -> bool:
    """The cached binary runs and reports the pinned version and our build mark."""
    path = binary(tool)
    if not path.exists():
        return False
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return f"version {VERSION} " in out and f"branch: {BUILD_MARK}" in out


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Two `make test` or `stack.py up` on a fresh machine build once, not twice at once."""
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    with open(BIN_DIR / ".prometheus-build.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build(tools: Iterable[str] = TOOLS, *, quiet: bool = False) -> dict[str, Path]:
    """Every tool named, from the cache or built now; returns their paths."""
    wanted = list(dict.fromkeys(tools))
    for tool in wanted:
        binary(tool)  # unknown names fail before anything is built
    missing = [t for t in wanted if not is_built(t)]
    if missing:
        with _build_lock():
            missing = [t for t in wanted if not is_built(t)]
            if missing:
                _go_install(missing, quiet=quiet)
    return {tool: binary(tool) for tool in wanted}


def _go_install(tools: list[str], *, quiet: bool) -> None:
    go = shutil.which("go")
    if go is None:
        raise BuildError("go not found on PATH: Go builds promtool and prometheus")
    if not quiet:
        print(
            f"[prometheus] building {', '.join(tools)} from {MODULE}@{VERSION} "
            "(many minutes on a cold Go build cache) ...",
            file=sys.stderr,
            flush=True,
        )
    # Installed into a scratch directory beside the cache and moved in whole, so an
    # interrupted build never leaves a binary that looks built.
    with tempfile.TemporaryDirectory(dir=BIN_DIR, prefix=".prometheus-build-") as scratch:
        env = {**os.environ, "GOBIN": scratch, "GO111MODULE": "on"}
        # A module-wide GOFLAGS such as -mod=vendor would not apply outside a module.
        env.pop("GOFLAGS", None)
        argv = [
            go,
            "install",
            "-trimpath",
            f"-tags={BUILD_TAGS}",
            f"-ldflags={_ldflags()}",
            *[f"{MODULE}/cmd/{tool}@{VERSION}" for tool in tools],
        ]
        with tempfile.TemporaryDirectory() as cwd:
            # `go install pkg@version` ignores any go.mod around it; a bare directory makes
            # that plain.
            result = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                stdout=subprocess.DEVNULL if quiet else None,
                stderr=subprocess.PIPE,
                text=True,
                timeout=BUILD_TIMEOUT,
            )
        if result.returncode != 0:
            raise BuildError(f"go install failed ({result.returncode}):\n{result.stderr[-4000:]}")
        for tool in tools:
            os.replace(Path(scratch) / tool, binary(tool))
    for tool in tools:
        if not is_built(tool):
            raise BuildError(f"{binary(tool)} was built but does not report {VERSION}")


def render_config(
    targets: Mapping[str, int],
    *,
    rule_files: Iterable[Path] = (RULES_DIR / "alerts.yml",),
    scrape_interval: str = "15s",
    evaluation_interval: str = "30s",
) -> str:
    """A prometheus.yml scraping `targets` (service name -> port on 127.0.0.1).

    Each target carries its service name as the `service` label, which the alert rules and
    dashboards group by (for `up` and faststream_*), as deploy/prometheus/prometheus.yml
    does for the containers.
    """
    lines = [
        "# Generated by deploy/local/prometheus.py for the local stack; rewritten each start.",
        "global:",
        f"  scrape_interval: {scrape_interval}",
        f"  evaluation_interval: {evaluation_interval}",
        "rule_files:",
        *[f"  - {_quote(str(path))}" for path in rule_files],
        "scrape_configs:",
        "  - job_name: ruam",
        "    metrics_path: /metrics",
        # ruam_* series name their own service; a target's label would rename theirs.
        "    honor_labels: true",
        "    static_configs:",
    ]
    for service, port in targets.items():
        lines += [
            f"      - targets: [{_quote(f'127.0.0.1:{port}')}]",
            f"        labels: {{service: {_quote(service)}}}",
        ]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    # JSON strings are YAML strings; json.dumps would do too, this keeps the import list short.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------- local Prometheus

# Where the local Prometheus answers, per stack profile (RUAM_PROMETHEUS_PORT overrides).
PORTS = {"local": 9090, "test": 19090, "chaos": 29090}
START_TIMEOUT = float(os.environ.get("RUAM_PROMETHEUS_START_TIMEOUT", "60"))
NAME = "prometheus"


def port_of(profile: Any) -> int:
    return int(os.environ.get("RUAM_PROMETHEUS_PORT") or PORTS.get(profile.name, 9090))


def scraped(profile: Any) -> dict[str, int]:
    """The profile's services: every one serves /metrics (the console too)."""
    return dict(profile.service_ports)


def _ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as resp:
        return bool(resp.status == 200)


def start(profile: Any) -> int:
    """Prometheus for `profile` (deploy/local/stack.py's), scraping its services with the
    repo's alert rules; its pid. Built first if missing. One already running is given the
    configuration again (SIGHUP) and kept."""
    from deploy.local import stack

    binary = build([NAME])[NAME]
    home = profile.run_dir / NAME
    (home / "data").mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(render_config(scraped(profile)))
    port = port_of(profile)
    pid = stack.tracked_pid(profile, NAME)
    if pid is not None:
        os.kill(pid, signal.SIGHUP)  # Prometheus reads its configuration again
        stack._log(f"prometheus already running (pid {pid}, http://127.0.0.1:{port}), reloaded")
        return pid
    stack._clear_pid(profile, NAME)
    if stack._port_open(port):
        raise stack.StackError(
            f"prometheus: port {port} is already in use by a process this stack did not start "
            "(RUAM_PROMETHEUS_PORT names another)"
        )
    argv = [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={home / 'data'}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    pid = stack._spawn(profile, NAME, argv, cwd=home)
    stack._log(f"prometheus starting (pid {pid}, http://127.0.0.1:{port}) ...")
    try:
        stack._wait_until(
            NAME, lambda: _ready(port), START_TIMEOUT, profile=profile, name=NAME, interval=0.5
        )
    except stack.StackError:
        stop(profile)
        raise
    stack._log(f"prometheus ready: http://127.0.0.1:{port}/api/v1/alerts")
    return pid


def stop(profile: Any, timeout: float = 20.0) -> bool:
    """Stop the Prometheus this stack started for `profile` (by its recorded pid only)."""
    from deploy.local import stack

    pid = stack.tracked_pid(profile, NAME)
    if pid is None:
        stack._clear_pid(profile, NAME)
        return False
    stack._log(f"stopping prometheus (pid {pid})")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while stack._group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if stack._group_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    stack._clear_pid(profile, NAME)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="prometheus.py", description=(__doc__ or "").split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_build = sub.add_parser("build", help="build (or find cached) promtool and prometheus")
    p_build.add_argument("tools", nargs="*", help=f"any of {', '.join(TOOLS)} (default: both)")
    p_config = sub.add_parser("config", help="print the local stack's scrape config")
    p_config.add_argument("--profile", choices=("local", "test", "chaos"), default="local")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        try:
            paths = build(args.tools or TOOLS)
        except (BuildError, ValueError, subprocess.TimeoutExpired) as exc:
            print(f"[prometheus] ERROR: {exc}", file=sys.stderr)
            return 1
        for path in paths.values():
            print(path)
    elif args.cmd == "config":
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        from deploy.local import stack

        print(render_config(scraped(stack.get_profile(args.profile))), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
