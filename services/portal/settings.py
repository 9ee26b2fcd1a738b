from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import WebSettings


class PortalSettings(WebSettings):
    """The public website. It calls the other services' public endpoints only: the survey
    (questionnaires, answers, the ITA report), intake (the web form's submissions) and
    compliance (evidence packs); each is found by its URL, or on this host by its port."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore", populate_by_name=True)

    service_name: str = "portal"
    http_port: int = 8005
    # Where the site is reached from outside: tracking links and QR codes name it; empty,
    # this host at `http_port`.
    public_base_url: str = ""
    # The map's tile server, e.g. https://tile.example.org/{z}/{x}/{y}.png; empty: the map
    # shows the located cases on a blank background and says tiles are off.
    tile_url: str = ""
    tile_attribution: str = ""
    # Contact channels, villages and department names; None = the shipped config/.
    config_dir: Path | None = None
    # The SAO's announcement on participation (announcement*.md), published on /ita; it is
    # the SAO's document, kept where the SAO keeps it, not in this repository.
    announcement_dir: Path | None = Path(__file__).resolve().parents[3] / "shared" / "mission"
    page_size: int = 50
    # The web form: a photo of at most this many bytes, re-encoded without its metadata.
    max_photo_bytes: int = 5_000_000
    # A photo can show people and houses: it is kept as long as intake keeps a citizen's
    # words (INTAKE_VAULT_RETENTION_DAYS' default), then deleted, checked this often.
    photo_retention_days: int = 730
    photo_purge_seconds: float = 3600.0
    max_form_bytes: int = 6_000_000
    # Reports per client address: a burst, then one every `report_every_seconds`.
    report_burst: int = 5
    report_every_seconds: float = 60.0
    # The key that signs the human check's question; empty: one made at start (a restart
    # then voids the questions on forms already open, which only asks for a new sum).
    human_check_secret: str = ""
    # How long a form's question stays good.
    human_check_ttl_seconds: int = 3600

    @property
    def site_url(self) -> str:
        return (self.public_base_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")
