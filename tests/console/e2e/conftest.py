"""The console in a real headless Chromium, over the five services and the console as real
processes on the test stack (the public site's tooling: tests/portal/e2e).

The console needs a port known before routing starts (routing's issuer must know the
console's redirect URI), so `ConsoleServices` picks it first and adds the console to what
the portal's `Services` starts.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from deploy.local import stack, web_assets
from tests.portal.e2e.browser import Browser, chromium_missing
from tests.portal.e2e.services import REPO, START_TIMEOUT, Services, free_port, wait_for

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
WIDTHS = (1280, 390)


@dataclass
class ConsoleServices(Services):
    console_port: int = field(default_factory=free_port)

    @property
    def console(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def env(self, service: str) -> dict[str, str]:
        values = super().env(service)
        values["CONSOLE_HTTP_PORT"] = str(self.console_port)
        values["CONSOLE_PUBLIC_BASE_URL"] = self.console
        values["RUAM_CONSOLE_REDIRECT_URIS"] = f"{self.console}/auth/callback"
        # Survey and routing timers quick enough for a test; the rest as the stack has it.
        values["ROUTING_TIMER_POLL_SECONDS"] = "1"
        return values

    def start(self) -> None:
        super().start()
        self.ports["console"] = self.console_port
        with (self.logs / "console.log").open("ab") as out:
            self.processes["console"] = subprocess.Popen(
                [sys.executable, "-m", "services.console.main"],
                cwd=REPO,
                env=self.env("console"),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_for("console healthy", partial(self._healthy, "console"), timeout=START_TIMEOUT)


@pytest.fixture(scope="session")
def axe_script() -> Path:
    web_assets.install()
    return web_assets.axe_script()


@pytest.fixture(scope="session")
def services(
    real_stack: stack.Profile, tmp_path_factory: pytest.TempPathFactory, axe_script: Path
) -> Iterator[ConsoleServices]:
    run = f"c{uuid.uuid4().hex[:10]}"
    running = ConsoleServices(
        profile=real_stack,
        prefix=f"{run}.",
        database=f"ruam_{run}",
        logs=tmp_path_factory.mktemp("console-services"),
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def browser(services: ConsoleServices, axe_script: Path) -> Iterator[Browser]:
    missing = chromium_missing()
    if missing:
        pytest.fail(missing)
    b = Browser(services.console, axe_script)
    try:
        yield b
    finally:
        b.quit()
