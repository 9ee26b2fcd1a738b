"""`make up MONITORING=1`: the built Prometheus, started by the stack for a profile, scrapes
that profile's services (each target labelled with its service) and evaluates the repo's
alert rules; `down` stops it by its recorded pid."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deploy.local import prometheus, stack
from tests.deploy.test_prometheus_rules import alerts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def api(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=5) as r:
        return json.loads(r.read())["data"]


@pytest.mark.e2e
def test_monitoring_starts_scrapes_the_profiles_services_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A profile of this test's own: its run dir, and service ports nothing listens on, so
    # every target is down and RuamServiceDown goes pending.
    ports = {name: free_port() for name in stack.SERVICES}
    profile = dataclasses.replace(
        stack.get_profile("test"), run_dir=tmp_path / "run", service_ports=ports
    )
    port = free_port()
    monkeypatch.setenv("RUAM_PROMETHEUS_PORT", str(port))
    monkeypatch.delenv("MONITORING", raising=False)
    assert stack.monitoring(profile) is False  # not asked for: nothing started
    assert stack.tracked_pid(profile, "prometheus") is None

    monkeypatch.setenv("MONITORING", "1")
    try:
        assert stack.monitoring(profile) is True
        pid = stack.tracked_pid(profile, "prometheus")
        assert pid is not None
        # Up again: the same process, given its configuration again.
        stack.monitoring(profile)
        assert stack.tracked_pid(profile, "prometheus") == pid

        groups = api(port, "rules")["groups"]
        loaded = {rule["name"] for group in groups for rule in group["rules"]}
        assert loaded == {rule["alert"] for rule in alerts()}

        # Targets are found, and first scraped, within the 15 s interval: polled, bounded.
        deadline = time.monotonic() + 60
        while True:
            up = api(port, "query?query=up")["result"]
            if len(up) == len(stack.SERVICES):
                break
            assert time.monotonic() < deadline, up
            time.sleep(1)
        targets = api(port, "targets")["activeTargets"]
        assert {t["labels"]["service"]: t["scrapeUrl"] for t in targets} == {
            name: f"http://127.0.0.1:{ports[name]}/metrics" for name in stack.SERVICES
        }
        assert {r["metric"]["service"]: r["value"][1] for r in up} == {
            name: "0" for name in stack.SERVICES
        }
    finally:
        stopped = stack.monitoring(profile, stop=True)
    assert stopped is True
    assert stack.tracked_pid(profile, "prometheus") is None
    with pytest.raises(OSError):
        api(port, "rules")
    assert prometheus.stop(profile) is False  # nothing left to stop
