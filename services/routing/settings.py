from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


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
