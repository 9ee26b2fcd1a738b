"""The console in a real headless Chromium, over the five services and the console as real
processes on the test stack (the public site's tooling: tests/portal/e2e).

The console needs a port known before routing starts (routing's issuer must know the
console's redirect URI), so `ConsoleServices` picks it first and adds the console to what
the portal's `Services` starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy.local import stack
from tests.portal.e2e.browser import Browser, chromium
from tests.portal.e2e.services import Services, started
from tools.processes import free_port

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
        self.launch("console")
        self.wait("console")


@pytest.fixture(scope="session")
def services(
    real_stack: stack.Profile, tmp_path_factory: pytest.TempPathFactory, axe_script: Path
) -> Iterator[ConsoleServices]:
    with started(ConsoleServices, real_stack, tmp_path_factory, "console") as running:
        yield running


@pytest.fixture(scope="session")
def browser(services: ConsoleServices, axe_script: Path) -> Iterator[Browser]:
    with chromium(services.console, axe_script) as b:
        yield b
