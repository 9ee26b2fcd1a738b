"""Intake refuses to start with the published demo secrets outside a dev stack."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.settings import (
    DEMO_LINE_CHANNEL_SECRET,
    DEMO_OPEN311_API_KEY,
    DEV_VAULT_KEY,
    IntakeSettings,
)

# A vault key of this test's own (a Fernet key), not the published dev one.
OWN_KEY = "LeQ6Q7tvTEIRW8ofc6IMjTBXVobd48heEm7dz48hg5s="


def test_demo_secrets_are_refused_outside_dev() -> None:
    with pytest.raises(ValidationError, match="OPEN311_API_KEYS and LINE_CHANNEL_SECRET"):
        IntakeSettings(env="production")
    with pytest.raises(ValidationError, match="LINE_CHANNEL_SECRET"):
        IntakeSettings(env="production", open311_api_keys="k-real", vault_key=OWN_KEY)
    with pytest.raises(ValidationError, match="OPEN311_API_KEYS"):
        IntakeSettings(
            env="staging", open311_api_keys=f"k1,{DEMO_OPEN311_API_KEY}", line_channel_secret="s"
        )


def test_own_secrets_start_anywhere_and_demo_ones_in_dev() -> None:
    prod = IntakeSettings(
        env="production", open311_api_keys="k1,k2", line_channel_secret="s", vault_key=OWN_KEY
    )
    assert prod.api_keys == {"k1", "k2"} and prod.vault_keys == (OWN_KEY,)
    dev = IntakeSettings(env="dev")
    assert dev.line_channel_secret == DEMO_LINE_CHANNEL_SECRET
    assert dev.vault_keys == (DEV_VAULT_KEY,)


@pytest.mark.parametrize("key", ["", DEV_VAULT_KEY, f"{OWN_KEY},{DEV_VAULT_KEY}"])
def test_the_vault_needs_a_key_of_its_own_outside_dev(key: str) -> None:
    own = {"open311_api_keys": "k1", "line_channel_secret": "s", "vault_key": key}
    with pytest.raises(ValidationError, match="RUAM_VAULT_KEY"):
        IntakeSettings.model_validate({**own, "env": "production"})
    IntakeSettings.model_validate({**own, "env": "dev"})


def test_a_vault_key_that_is_no_key_is_refused_even_in_dev() -> None:
    with pytest.raises(ValidationError, match="Fernet"):
        IntakeSettings(env="dev", vault_key="correct horse battery staple")


def test_the_environment_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUAM_ENV", "production")
    with pytest.raises(ValidationError):
        IntakeSettings()
    monkeypatch.setenv("OPEN311_API_KEYS", "k-real")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "s-real")
    with pytest.raises(ValidationError, match="RUAM_VAULT_KEY"):
        IntakeSettings()
    monkeypatch.setenv("RUAM_VAULT_KEY", OWN_KEY)
    assert IntakeSettings().api_keys == {"k-real"}
