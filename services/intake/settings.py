from __future__ import annotations

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.line import DEFAULT_BASE_URL, DEFAULT_DATA_BASE_URL, check_access_token
from shared.settings import ServiceSettings, shared_field

# The documented demo values (tools/demo/stages/intake.py uses them): a deployment sets
# OPEN311_API_KEYS and LINE_CHANNEL_SECRET; the demo and the service agree by default.
DEMO_OPEN311_API_KEY = "ruam-demo-open311-key"
DEMO_LINE_CHANNEL_SECRET = "ruam-demo-line-channel-secret"
# The vault's key on a dev stack (a Fernet key, so published and worthless): anything
# encrypted with it is readable by anyone with this repository.
DEV_VAULT_KEY = "Z0SDRch8_5iSTTxPD_qtNt0rlsxYCEvFvg9G7IjgmOE="


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
    # The citizen answered on LINE (services/intake/line_push.py): the case number, an
    # officer's question, what was done, the survey. The channel access token of the LINE
    # Official Account whose webhook this is; empty (the default): no pushes.
    line_channel_access_token: SecretStr = Field(
        SecretStr(""), validation_alias=_env("LINE_CHANNEL_ACCESS_TOKEN")
    )
    line_api_base_url: str = DEFAULT_BASE_URL
    # Where LINE serves what users sent (its data host): photos, voice messages, videos
    # and files are copied from there.
    line_data_base_url: str = DEFAULT_DATA_BASE_URL
    # Anything larger is left with LINE (LINE's own limit for images is 10 MB); at most 12
    # MB, so that its base64 fits in one document.
    line_media_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=12 * 1024 * 1024)
    # Where a push's link opens the case: the public website's /track.
    portal_public_base_url: str = shared_field("", "PORTAL_PUBLIC_BASE_URL")
    portal_port: int = shared_field(8005, "PORTAL_HTTP_PORT")
    # Routing's organisation directory, for department names (agency_responsible).
    directory_path: str = ""
    # The vault's keys (Fernet, `python -m services.intake.vault keygen`), comma-separated:
    # the first seals, all of them open, so a key is rotated by putting the new one first.
    vault_key: str = Field(
        DEV_VAULT_KEY,
        validation_alias=AliasChoices("RUAM_VAULT_KEY", "INTAKE_VAULT_KEY", "vault_key"),
    )
    # How long the vault keeps a contact or a citizen's words after their case was last
    # closed (or, for a case never closed, after they were stored); docs/personal-data.md.
    vault_retention_days: float = 730.0
    # How often expired entries are looked for (one indexed query; no work per event).
    vault_purge_seconds: float = 3600.0

    @model_validator(mode="after")
    def _no_demo_secrets_outside_dev(self) -> IntakeSettings:
        demo = [
            name
            for name, used in (
                ("OPEN311_API_KEYS", DEMO_OPEN311_API_KEY in self.api_keys),
                # An empty secret is a key too: anyone could sign with it.
                (
                    "LINE_CHANNEL_SECRET",
                    self.line_channel_secret.strip() in ("", DEMO_LINE_CHANNEL_SECRET),
                ),
            )
            if used
        ]
        keys = self.vault_keys
        for key in keys:
            try:
                Fernet(key)
            except ValueError:
                raise ValueError(
                    "RUAM_VAULT_KEY is not a list of Fernet keys (32 url-safe base64 bytes); "
                    "make one with `python -m services.intake.vault keygen`"
                ) from None
        if not keys or DEV_VAULT_KEY in keys:
            demo.append("RUAM_VAULT_KEY")
        if demo and self.env != "dev":
            raise ValueError(
                f"{' and '.join(demo)} still hold the published demo value or none; set your own "
                "(the demo values are accepted only with RUAM_ENV=dev)"
            )
        check_access_token(
            self.line_channel_access_token.get_secret_value(),
            self.env,
            "LINE_CHANNEL_ACCESS_TOKEN",
        )
        return self

    @property
    def line_push(self) -> bool:
        return bool(self.line_channel_access_token.get_secret_value())

    @property
    def portal_url(self) -> str:
        return (self.portal_public_base_url or f"http://127.0.0.1:{self.portal_port}").rstrip("/")

    @property
    def vault_keys(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.vault_key.split(",") if k.strip())

    @property
    def api_keys(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.open311_api_keys.split(",") if k.strip())
