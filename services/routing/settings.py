from __future__ import annotations

from pydantic import AwareDatetime, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.line import DEFAULT_BASE_URL, check_access_token
from shared.settings import ServiceSettings, shared_field


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", populate_by_name=True)

    service_name: str = "routing"
    http_port: int = 8002
    # Folder of organisation directories (<org_id>.yaml); empty = the shipped ones.
    directory_path: str = ""
    # How often a directory file is looked at for changes (reload without restart).
    directory_check_seconds: float = 3.0
    # How often due deadline timers are looked for, and how many are fired per round.
    timer_poll_seconds: float = 5.0
    timer_batch: int = 200
    # The preview endpoint reuses officers' loads this long (it must answer fast).
    preview_load_cache_seconds: float = 2.0
    # Assignment re-counts officers' open cases this often, counting its own in between.
    assignment_load_recount_seconds: float = 5.0
    # The built-in OpenID Connect issuer (services/routing/identity.py, docs/auth.md), served
    # under /oidc as RUAM_OIDC_ISSUER. Off when the SAO signs in with its own provider.
    builtin_issuer: bool = True
    # Its ES256 signing key, PEM (or a file holding it). Required outside RUAM_ENV=dev; in dev
    # a key is made at start, and tokens do not outlive a restart.
    oidc_signing_key: SecretStr = shared_field(SecretStr(""), "RUAM_OIDC_SIGNING_KEY")
    oidc_signing_key_file: str = shared_field("", "RUAM_OIDC_SIGNING_KEY_FILE")
    # When the SAO's key policy says the signing key must be replaced (ISO 8601): the
    # operator's gauge counts down to it (ruam_signing_key_expiry_seconds). None: no deadline.
    oidc_signing_key_not_after: AwareDatetime | None = shared_field(
        None, "RUAM_OIDC_SIGNING_KEY_NOT_AFTER"
    )
    # Who may sign in: YAML of argon2id hashes and roles. In dev without one, every officer of
    # the directory and the demo accounts sign in with the published demo password.
    credentials_file: str = shared_field("", "RUAM_CREDENTIALS_FILE")
    # Access tokens are short-lived: a stolen one is soon useless, and a changed role applies
    # at the next sign-in.
    access_token_seconds: int = 900
    # Where the officers' console (client `ruam-console`) may receive its sign-in codes:
    # its /auth/callback, comma-separated when it is reached by more than one address.
    # Empty in dev: the console on this host at CONSOLE_HTTP_PORT.
    console_redirect_uri: str = shared_field("", "RUAM_CONSOLE_REDIRECT_URIS")
    console_port: int = shared_field(8006, "CONSOLE_HTTP_PORT")

    # Officers told on LINE when a case is assigned or escalated to them (the LINE Messaging
    # API's push, services/routing/line_push.py): the SAO's LINE Official Account's channel
    # access token. Empty (the default): no pushes. Each officer is reached by the
    # `line_user_id` of their entry in the directory.
    line_channel_access_token: SecretStr = SecretStr("")
    line_api_base_url: str = DEFAULT_BASE_URL
    # Where a push's link opens the case: the officers' console.
    console_public_base_url: str = shared_field("", "CONSOLE_PUBLIC_BASE_URL")

    @model_validator(mode="after")
    def _no_placeholder_line_token(self) -> RoutingSettings:
        check_access_token(
            self.line_channel_access_token.get_secret_value(),
            self.env,
            "ROUTING_LINE_CHANNEL_ACCESS_TOKEN",
        )
        return self

    @property
    def line_push(self) -> bool:
        return bool(self.line_channel_access_token.get_secret_value())

    @property
    def console_url(self) -> str:
        return (self.console_public_base_url or f"http://127.0.0.1:{self.console_port}").rstrip("/")

    def console_redirect_uris(self) -> frozenset[str]:
        given = {u.strip() for u in self.console_redirect_uri.split(",") if u.strip()}
        if given or self.env != "dev":
            return frozenset(given)
        return frozenset({f"http://127.0.0.1:{self.console_port}/auth/callback"})
