"""The six services as real processes on the test stack's Kafka and FerretDB, for the
browser: a browser needs real ports, so unlike the in-process e2e tests (tests/conftest.py's
`running`) every service here is `python -m services.<name>.main` on a free port.

All five share one topic prefix and one database of their own (as the services of one
stack do), so nothing a test run writes is seen by another run or by `make up`'s stack.
They connect to Kafka as the stack's admin, as tests/conftest.py's `real_settings` does:
the prefix is the run's own, which no service's ACLs name.

People sign in as the local stack's demo accounts, through routing's built-in issuer with
the password grant (docs/auth.md), as any script would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from deploy.local import stack
from tools import processes
from tools.accounts import DEMO_PASSWORD
from tools.processes import free_port

REPO = Path(__file__).resolve().parents[3]
# Insight too: the portal's /ita/insight passes its quarterly reports on.
SERVICES = ("intake", "routing", "survey", "compliance", "insight", "portal")
START_TIMEOUT = 90.0
T = TypeVar("T")


def wait_for(
    what: str, probe: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.5
) -> T:
    """Poll `probe` until it returns something (not None, not False); fail saying `what`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last is not False:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


@dataclass
class Services:
    """The running processes, their URLs, and the calls the tests make to their APIs."""

    profile: stack.Profile
    prefix: str  # topic prefix, with its trailing dot
    database: str
    logs: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ processes

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.ports['routing']}/oidc"

    def url(self, service: str, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    @property
    def portal(self) -> str:
        return self.url("portal", "").rstrip("/")

    def env(self, service: str) -> dict[str, str]:
        admin = self.profile.env()
        values = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.profile.kafka_bootstrap,
            "KAFKA_SASL_USERNAME": admin["KAFKA_SASL_USERNAME"],
            "KAFKA_SASL_PASSWORD": admin["KAFKA_SASL_PASSWORD"],
            "MONGODB_URL": self.profile.mongodb_url,
            "MONGODB_DATABASE": self.database,
            "RUAM_TOPIC_PREFIX": self.prefix,
            "RUAM_ENV": "dev",
            "RUAM_OIDC_ISSUER": self.issuer,
            "RUAM_OUTBOX_SWEEP_SECONDS": "0.5",
            "RUAM_RETRY_BACKOFF_SECONDS": "0.05",
            "PYTHONUNBUFFERED": "1",
        }
        for name, port in self.ports.items():
            values[f"{name.upper()}_HTTP_PORT"] = str(port)
        # Tracking links and QR codes name the site as the browser reaches it; no tile
        # server (the test machine may have no network: the map must work without one).
        if "portal" in self.ports:
            values["PORTAL_PUBLIC_BASE_URL"] = self.portal
        values["PORTAL_TILE_URL"] = ""
        return values

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in SERVICES}
        for name in SERVICES:
            self.launch(name)
        for name in SERVICES:
            self.wait(name)

    def launch(self, name: str) -> None:
        self.processes[name] = processes.spawn(name, self.env(name), self.logs / f"{name}.log")

    def wait(self, name: str) -> None:
        log = self.logs / f"{name}.log"
        processes.wait_healthy(name, self.processes[name], self.url(name, ""), log, START_TIMEOUT)

    def log_tail(self, name: str, lines: int = 40) -> str:
        return stack.tail(self.logs / f"{name}.log", lines)

    def stop(self) -> None:
        processes.stop(self.processes.values())
        for name, process in self.processes.items():
            if process.returncode not in (0, -signal.SIGTERM):
                print(f"{name} ended with {process.returncode}:\n{self.log_tail(name, 15)}")

    # ------------------------------------------------------------------ signing in, APIs

    def headers(self, username: str) -> dict[str, str]:
        """A demo account's bearer token (password grant at routing's issuer)."""
        if username not in self._tokens:
            found = httpx.get(self.issuer + "/.well-known/openid-configuration", timeout=10)
            found.raise_for_status()
            r = httpx.post(
                found.json()["token_endpoint"],
                data={"grant_type": "password", "username": username, "password": DEMO_PASSWORD},
                timeout=10,
            )
            assert r.status_code == 200, f"{username} cannot sign in: {r.text[:300]}"
            self._tokens[username] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        as_: str | None = None,
        expect: tuple[int, ...] = (200, 201, 202),
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**(self.headers(as_) if as_ else {}), **kwargs.pop("headers", {})}
        r = httpx.request(method, self.url(service, path), headers=headers, timeout=30, **kwargs)
        assert r.status_code in expect, f"{method} {service}{path}: {r.status_code} {r.text[:500]}"
        return r

    def case(self, case_id: str) -> dict[str, Any] | None:
        r = self.call("GET", "routing", f"/v1/cases/{case_id}", as_="palad", expect=(200, 404))
        return r.json() if r.status_code == 200 else None

    def assigned(self, case_id: str) -> dict[str, Any]:
        """The case once routing gave it an officer."""

        def probe() -> dict[str, Any] | None:
            case = self.case(case_id)
            return case if case and (case.get("officer") or {}).get("id") else None

        return wait_for(f"{case_id} assigned", probe, timeout=60)

    def resolve(self, case_id: str, resolution: str) -> None:
        """Acknowledge, start and resolve the case as its own officer, as the demo does."""
        officer = self.assigned(case_id)["officer"]["id"]
        for step in (
            {"action": "acknowledge"},
            {"action": "start"},
            {"action": "resolve", "resolution": resolution},
        ):
            body = {**step, "officer_id": officer, "command_id": f"e2e-{step['action']}-{case_id}"}
            self.call(
                "POST", "routing", f"/v1/cases/{case_id}/actions", as_=officer, json=body,
                expect=(200, 409),
            )  # fmt: skip

    def survey_token(self, case_id: str) -> str:
        """The invitation's token, read from `survey.requested` as the LINE or SMS adapter
        would (it reaches the citizen only there; tools/demo/stages/survey.py)."""
        from shared.topics import Topic
        from tools.kafka_read import read_to_end

        topic = self.prefix + Topic.SURVEY_REQUESTED.value
        admin = self.profile.env()
        client = {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_plain_username": admin["KAFKA_SASL_USERNAME"],
            "sasl_plain_password": admin["KAFKA_SASL_PASSWORD"],
        }

        def probe() -> str | None:
            records = asyncio.run(
                read_to_end(self.profile.kafka_bootstrap, [topic], 30, **client)
            ).get(topic, [])
            for record in records:
                payload = json.loads(record.value)["payload"]
                if payload["case_id"] == case_id:
                    return str(payload["token"])
            return None

        return wait_for(f"survey invitation of {case_id}", probe, timeout=60, interval=1)

    def submit(self, body: Mapping[str, Any], *, as_: str | None = None) -> str:
        """A submission through intake's API; its case id."""
        r = self.call("POST", "intake", "/v1/submissions", as_=as_, json=dict(body))
        return str(r.json()["case_id"])


S = TypeVar("S", bound=Services)


@contextmanager
def started(
    kind: type[S], profile: stack.Profile, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[S]:
    """`kind`'s processes on a topic prefix and database of their own, stopped at the end."""
    run = f"{name[0]}{uuid.uuid4().hex[:10]}"
    running = kind(
        profile=profile,
        prefix=f"{run}.",
        database=f"ruam_{run}",
        logs=tmp_path_factory.mktemp(f"{name}-services"),
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()
