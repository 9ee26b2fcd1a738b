from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import WebSettings, shared_field

# Published for the local stack: a session cookie signed with it could be forged by anyone
# who read this file, so it is refused outside RUAM_ENV=dev, as the other demo secrets are.
DEV_SESSION_SECRET = "ruam-console-dev-session-secret"


class ConsoleSettings(WebSettings):
    """The officers' console. It holds no data of its own: every page is read from the
    services' APIs with the signed-in officer's token, found by URL or on this host by port."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)

    service_name: str = "console"
    http_port: int = 8006
    # Where the console is reached: its sign-in callback is `<this>/auth/callback`, which the
    # identity provider must have registered for the client. Empty: this host at http_port.
    public_base_url: str = ""
    # The public website, whose tracker a receipt's QR code opens and where the analysis page
    # links the published quarterly reports.
    portal_public_base_url: str = shared_field("", "PORTAL_PUBLIC_BASE_URL")
    portal_port: int = shared_field(8005, "PORTAL_HTTP_PORT")
    # The console's client at the OpenID Connect provider (RUAM_OIDC_ISSUER). A secret only
    # when the provider registered it as a confidential client (Keycloak can); PKCE either way.
    oidc_client_id: str = "ruam-console"
    oidc_client_secret: SecretStr = SecretStr("")
    # Signs the session cookie. Required outside dev.
    session_secret: SecretStr = SecretStr("")
    # A session ends after this long without a request, and after `session_max_seconds` in any
    # case; an expired access token is renewed with the refresh token while the session lasts.
    session_idle_seconds: int = 3600
    session_max_seconds: int = 10 * 3600
    # Sessions held at once (the least recently used are forgotten: their owners sign in again).
    max_sessions: int = 5000
    # The queue asks routing for at most this many cases (the nearest deadlines first).
    queue_limit: int = 500
    # The public site, whose web-form photos the case page shows (its GET /v1/photos/{id},
    # with the officer's token); empty: this host at PORTAL_HTTP_PORT.
    portal_url: str = ""
    # Largest upload: an after-photo; a letter's scan (an image or a PDF of several pages).
    max_upload_bytes: int = 6_000_000
    max_scan_bytes: int = 10_000_000
    # The case page's map: a tile server like the public site's (PORTAL_TILE_URL), e.g.
    # https://tile.example.org/{z}/{x}/{y}.png; empty, the point on a blank background (the
    # coordinates and the geo: link are on the page either way).
    tile_url: str = ""
    tile_attribution: str = ""
    # An after-photo can show people and houses: kept as long as intake keeps a citizen's
    # words (INTAKE_VAULT_RETENTION_DAYS' default), looked at this often.
    photo_retention_days: int = 730
    photo_purge_seconds: float = 3600.0

    @model_validator(mode="after")
    def _session_secret_outside_dev(self) -> ConsoleSettings:
        secret = self.session_secret.get_secret_value()
        if self.env != "dev" and (not secret or secret == DEV_SESSION_SECRET):
            raise ValueError(
                "CONSOLE_SESSION_SECRET must be set to a secret of this installation outside "
                "RUAM_ENV=dev (the published dev secret is refused)"
            )
        if self.env != "dev" and len(secret) < 32:
            raise ValueError("CONSOLE_SESSION_SECRET must be at least 32 characters")
        return self

    @property
    def session_key(self) -> bytes:
        return (self.session_secret.get_secret_value() or DEV_SESSION_SECRET).encode()

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/auth/callback"

    @property
    def tracker_base(self) -> str:
        return (self.portal_public_base_url or f"http://127.0.0.1:{self.portal_port}").rstrip("/")

    @property
    def max_form_bytes(self) -> int:
        """A form's whole body: its largest file and room for the fields."""
        return max(self.max_upload_bytes, self.max_scan_bytes) + 200_000

    @property
    def tile_origin(self) -> str:
        """The tile server's origin for the pages' Content-Security-Policy ({s}: any)."""
        if not self.tile_url:
            return ""
        parts = urlsplit(self.tile_url.replace("{s}", "*"))
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")
