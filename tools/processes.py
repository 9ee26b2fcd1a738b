"""Service processes that a tool or a browser test starts of its own, beside a running stack
(its own ports, topic prefix and database): started, waited for, stopped, one way.

The stack's own services are deploy/local/stack.py's (stdlib only, pid files); these are
children of the process that starts them, each in a session of its own so that stopping it
signals the group it leads and nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from deploy.local import stack

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def spawn(name: str, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m services.<name>.main` with `env`, its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{name}.main"],
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def healthy(name: str, process: subprocess.Popen[bytes], base: str, log: Path) -> bool:
    """Whether `base`/healthz answers 200; an exited process is an error, with its log."""
    if process.poll() is not None:
        raise RuntimeError(f"{name} exited with {process.returncode}:\n{stack.tail(log)}")
    try:
        with urllib.request.urlopen(base.rstrip("/") + "/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(
    name: str, process: subprocess.Popen[bytes], base: str, log: Path, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(name, process, base, log):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} is not healthy after {timeout:.0f} s:\n{stack.tail(log)}")
        time.sleep(0.5)


def stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each one's group, then wait: whoever is not gone in 20 s is killed."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
