"""The demo's intake stage on the real stack: every channel used, empty reports refused,
a second run creates nothing new, and the privacy scan finds nothing."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.bootstrap import create_service
from services.intake.settings import IntakeSettings
from shared.roles import Role
from tests.conftest import running
from tests.signing import TEST_IDP
from tools.demo import traffy
from tools.demo.context import DemoContext
from tools.demo.stages import intake as stage

pytestmark = pytest.mark.integration


async def desk(username: str) -> str:
    return TEST_IDP.token(Role.OFFICER, officer_id=username, department="office")


async def test_the_stage_is_idempotent_across_runs(
    real_settings: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = real_settings(IntakeSettings)
    monkeypatch.setenv("RUAM_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
    monkeypatch.delenv("OPEN311_API_KEYS", raising=False)
    monkeypatch.delenv("LINE_CHANNEL_SECRET", raising=False)
    reports = traffy.sample()
    async with running(create_service(settings)) as http:
        runs = []
        for _ in range(2):
            ctx = DemoContext(
                urls={"intake": "http://service"},
                client=http,
                reports=reports,
                data_path=None,
                sign_in=desk,
            )
            await stage.run(ctx)
            runs.append(ctx.results["intake"])
    first, second = runs
    assert len(first["accepted"]) == 7 and [t for t, _ in first["refused"]] == ["S-0005"]
    assert first["accepted"] == second["accepted"]
    assert first["already_known"] == 0 and second["already_known"] == 7
    assert second["refused"] == first["refused"]
    assert sum(first["by_channel"].values()) == 7
    out = capsys.readouterr().out
    assert "personal data none found" in out
