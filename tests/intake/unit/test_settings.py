"""Intake refuses to start with the published demo secrets outside a dev stack."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.settings import (
    DEMO_LINE_CHANNEL_SECRET,
    DEMO_OPEN311_API_KEY,
    IntakeSettings,
)


def test_demo_secrets_are_refused_outside_dev() -> None:
    with pytest.raises(ValidationError, match="OPEN311_API_KEYS and LINE_CHANNEL_SECRET"):
        IntakeSettings(env="production")
    with pytest.raises(ValidationError, match="LINE_CHANNEL_SECRET"):
        IntakeSettings(env="production", open311_api_keys="k-real")
    with pytest.raises(ValidationError, match="OPEN311_API_KEYS"):
        IntakeSettings(
            env="staging", open311_api_keys=f"k1,{DEMO_OPEN311_API_KEY}", line_channel_secret="s"
        )


def test_own_secrets_start_anywhere_and_demo_ones_in_dev() -> None:
    prod = IntakeSettings(env="production", open311_api_keys="k1,k2", line_channel_secret="s")
    assert prod.api_keys == {"k1", "k2"}
    dev = IntakeSettings(env="dev")
    assert dev.line_channel_secret == DEMO_LINE_CHANNEL_SECRET


def test_the_environment_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUAM_ENV", "production")
    with pytest.raises(ValidationError):
        IntakeSettings()
    monkeypatch.setenv("OPEN311_API_KEYS", "k-real")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "s-real")
    assert IntakeSettings().api_keys == {"k-real"}
