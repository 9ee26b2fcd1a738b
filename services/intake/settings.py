from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

# The documented demo values (tools/demo/stages/intake.py uses them): a deployment sets
# OPEN311_API_KEYS and LINE_CHANNEL_SECRET; the demo and the service agree by default.
DEMO_OPEN311_API_KEY = "ruam-demo-open311-key"
DEMO_LINE_CHANNEL_SECRET = "ruam-demo-line-channel-secret"


def _env(name: str) -> AliasChoices:
    # The names the issue gives (unprefixed, as LINE and Open311 tooling expects them),
    # the prefixed form, and the field name for tests.
    return AliasChoices(name, f"INTAKE_{name}", name.lower())


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    service_name: str = "intake"
    http_port: int = 8001
    max_body_bytes: int = 1_000_000
    # A suggestion-box batch or a meeting's minutes are bigger than one message.
    max_batch_bytes: int = 5_000_000
    open311_api_keys: str = Field(DEMO_OPEN311_API_KEY, validation_alias=_env("OPEN311_API_KEYS"))
    line_channel_secret: str = Field(
        DEMO_LINE_CHANNEL_SECRET, validation_alias=_env("LINE_CHANNEL_SECRET")
    )
    # Consecutive LINE messages from one user within this many minutes are one case.
    line_thread_minutes: float = 10.0
    # Routing's organisation directory, for department names (agency_responsible).
    directory_path: str = ""

    @model_validator(mode="after")
    def _no_demo_secrets_outside_dev(self) -> IntakeSettings:
        demo = [
            name
            for name, used in (
                ("OPEN311_API_KEYS", DEMO_OPEN311_API_KEY in self.api_keys),
                ("LINE_CHANNEL_SECRET", self.line_channel_secret == DEMO_LINE_CHANNEL_SECRET),
            )
            if used
        ]
        if demo and self.env != "dev":
            raise ValueError(
                f"{' and '.join(demo)} still hold the published demo value; set your own "
                "(the demo values are accepted only with RUAM_ENV=dev)"
            )
        return self

    @property
    def api_keys(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.open311_api_keys.split(",") if k.strip())
