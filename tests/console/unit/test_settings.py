"""The console's secret, like the other secrets: refused when left to its default outside dev."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from services.console.settings import DEV_SESSION_SECRET, ConsoleSettings


def test_outside_dev_the_session_secret_must_be_the_installations_own() -> None:
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET"):
        ConsoleSettings(env="production")
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET"):
        ConsoleSettings(env="production", session_secret=SecretStr(DEV_SESSION_SECRET))
    with pytest.raises(ValidationError, match="32 characters"):
        ConsoleSettings(env="production", session_secret=SecretStr("short"))
    own = ConsoleSettings(env="production", session_secret=SecretStr("s" * 40))
    assert own.session_key == b"s" * 40


def test_cookies_are_secure_when_the_console_is_reached_over_https() -> None:
    assert ConsoleSettings(env="dev").secure_cookies is False
    https = ConsoleSettings(env="dev", public_base_url="https://console.sao.go.th/")
    assert https.secure_cookies and https.redirect_uri == "https://console.sao.go.th/auth/callback"
