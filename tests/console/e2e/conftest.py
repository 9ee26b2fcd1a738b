"""The console in a real headless Chromium, over the six services and the console
as real processes on the test stack (the public site's tooling: tests/portal/e2e).

The console needs a port known before routing starts (routing's issuer must know the
console's redirect URI), so `ConsoleServices` picks it first and adds the console to what
the portal's `Services` starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from deploy.local import stack
from services.routing.adapters.directory_files import DEFAULT_ROOT
from shared.line import DEV_LINE_TOKEN
from tests.fake_line import FakeLine, running
from tests.portal.e2e.browser import Browser, chromium
from tests.portal.e2e.services import Services, started
from tools.processes import free_port

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
WIDTHS = (1280, 390)


def line_id(officer_id: str) -> str:
    """The LINE user id the test directory gives an officer."""
    return "U" + hashlib.md5(officer_id.encode()).hexdigest()


def directory_with_line_ids(folder: Path) -> Path:
    """The shipped directory, every officer with a LINE user id: routing pushes to them."""
    data = yaml.safe_load((DEFAULT_ROOT / "sraphonthong.yaml").read_text(encoding="utf-8"))
    for officer in data["officers"]:
        officer["line_user_id"] = line_id(officer["id"])
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    (folder / "sraphonthong.yaml").write_text(text, encoding="utf-8")
    return folder


@dataclass
class ConsoleServices(Services):
    console_port: int = field(default_factory=free_port)
    # LINE's push endpoint, as a real server in this process: routing pushes to it.
    line: FakeLine = field(default_factory=lambda: FakeLine(DEV_LINE_TOKEN))
    _line: ExitStack = field(default_factory=ExitStack)

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
        # The officers' LINE push, on: to the fake LINE server, officers from a directory
        # that gives each of them a LINE id.
        values["ROUTING_LINE_CHANNEL_ACCESS_TOKEN"] = DEV_LINE_TOKEN
        values["ROUTING_LINE_API_BASE_URL"] = self.line.url
        # And intake's answers to the citizens who wrote on LINE, to the same fake server.
        values["LINE_CHANNEL_ACCESS_TOKEN"] = DEV_LINE_TOKEN
        values["INTAKE_LINE_API_BASE_URL"] = self.line.url
        values["INTAKE_LINE_DATA_BASE_URL"] = self.line.url
        values["ROUTING_DIRECTORY_PATH"] = str(self.logs / "directory")
        return values

    def start(self) -> None:
        self._line.enter_context(running(self.line))
        directory_with_line_ids(self.logs / "directory")
        super().start()  # insight among them, which the console finds by INSIGHT_HTTP_PORT
        self.ports["console"] = self.console_port
        self.launch("console")
        self.wait("console")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._line.close()

    def pushed(self, officer_id: str, *words: str) -> list[str]:
        """The texts pushed on LINE to the officer that hold every one of `words`."""
        return self.pushed_to(line_id(officer_id), *words)

    def pushed_to(self, user_id: str, *words: str) -> list[str]:
        """The texts sent on LINE to `user_id` (pushed, or as a reply to their message) that
        hold every one of `words`."""
        return [
            m["text"]
            for p in [*self.line.pushes, *self.line.replies]
            if p["to"] == user_id
            for m in p["messages"]
            if all(w in m["text"] for w in words)
        ]


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
