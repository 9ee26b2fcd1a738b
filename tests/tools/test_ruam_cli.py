"""The `ruam` command line against fake services behind an httpx.MockTransport: what it
asks each service, how it signs in, what it prints, and its exit codes."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from services.routing.adapters.directory_files import DEFAULT_ROOT
from tools.ruam import bus, cli
from tools.ruam.services import (
    EXIT_ATTENTION,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    Addresses,
)

Handler = Callable[[str, httpx.Request], httpx.Response | None]


def metrics_text(service: str, *, lag: int = 0, backlog: int = 0, oldest: float = 0.0,
                 letters: int = 0) -> str:  # fmt: skip
    return f"""# HELP ruam_consumer_lag lag
# TYPE ruam_consumer_lag gauge
ruam_consumer_lag{{service="{service}",group="g1",topic="case.received",partition="0"}} {lag}
ruam_consumer_lag{{service="{service}",group="g1",topic="case.received",partition="1"}} 0
# TYPE ruam_outbox_backlog gauge
ruam_outbox_backlog{{service="{service}",collection="cases"}} {backlog}
# TYPE ruam_outbox_oldest_seconds gauge
ruam_outbox_oldest_seconds{{service="{service}",collection="cases"}} {oldest}
# TYPE ruam_dead_letters_waiting gauge
ruam_dead_letters_waiting{{service="{service}",topic="intake.raw"}} {letters}
# TYPE ruam_build_info gauge
ruam_build_info{{service="{service}",version="0.1.0",commit="abc123"}} 1
"""


class FakeStack:
    """Every service on its port of the local profile; sign-in at routing's /oidc."""

    def __init__(self) -> None:
        self.addresses = Addresses.of("local", env={})
        self.by_port = {httpx.URL(url).port: name for name, url in self.addresses.urls.items()}
        self.by_port[httpx.URL(self.addresses.prometheus).port] = "prometheus"
        self.handlers: list[Handler] = []
        self.requests: list[tuple[str, httpx.Request]] = []
        self.tokens_issued: list[str] = []
        self.down: set[str] = set()

    def handle(self, request: httpx.Request) -> httpx.Response:
        service = self.by_port[request.url.port]
        self.requests.append((service, request))
        if service in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        for handler in self.handlers:
            response = handler(service, request)
            if response is not None:
                return response
        if path == "/oidc/.well-known/openid-configuration":
            token_url = self.addresses.urls["routing"] + "/oidc/token"
            return httpx.Response(200, json={"token_endpoint": token_url})
        if path == "/oidc/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            assert form["grant_type"] == "password"
            token = f"token-of-{form['username']}-{len(self.tokens_issued)}"
            self.tokens_issued.append(token)
            return httpx.Response(200, json={"access_token": token})
        if path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        if path == "/metrics":
            return httpx.Response(200, text=metrics_text(service))
        return httpx.Response(404, json={"error": "not_found", "message": f"no {path}"})

    def on(self, handler: Handler) -> None:
        self.handlers.insert(0, handler)

    def signed(self, service: str, path: str) -> list[str]:
        """The Authorization headers of the calls to `path` on `service`."""
        return [
            r.headers.get("authorization", "")
            for s, r in self.requests
            if s == service and r.url.path == path
        ]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStack]:
    for name in list(os.environ):
        if name.endswith("_HTTP_PORT") or name in (
            "RUAM_HOST",
            "RUAM_OIDC_ISSUER",
            "RUAM_PROMETHEUS_URL",
            "RUAM_PROMETHEUS_PORT",
        ):
            monkeypatch.delenv(name)
    stack = FakeStack()
    monkeypatch.setattr(cli, "TRANSPORT", httpx.MockTransport(stack.handle))
    monkeypatch.setattr(cli.out, "width", 200)  # a terminal wide enough not to fold a cell
    yield stack


def ruam(*args: str) -> Any:
    result = CliRunner().invoke(cli.app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def as_json(result: Any) -> Any:
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- status


def test_status_shows_every_service_and_exits_0_when_all_is_well(fake: FakeStack) -> None:
    fake.on(
        lambda s, r: (
            httpx.Response(200, text=metrics_text(s, lag=42, backlog=3, oldest=4.5))
            if s == "routing" and r.url.path == "/metrics"
            else None
        )
    )
    result = ruam("status")
    assert result.exit_code == EXIT_OK, result.output
    for name in fake.addresses.urls:
        assert name in result.stdout
    routing = next(line for line in result.stdout.splitlines() if "routing" in line)
    assert "42" in routing and "0.1.0 abc123" in routing
    # Status is public: health and metrics need no sign-in.
    assert fake.tokens_issued == []

    data = as_json(ruam("status", "--json"))
    by_name = {s["service"]: s for s in data["services"]}
    assert by_name["routing"]["lag"] == 42
    assert by_name["routing"]["lag_by_group"] == {"g1 case.received": 42}
    assert by_name["routing"]["backlog"] == 3
    assert by_name["intake"]["lag"] == 0
    assert data["healthy"] is True and data["attention"] is False


def test_status_exits_3_when_a_service_is_down_or_unhealthy(fake: FakeStack) -> None:
    fake.down.add("survey")
    fake.on(
        lambda s, r: (
            httpx.Response(503, text="mongodb down")
            if s == "compliance" and r.url.path == "/healthz"
            else None
        )
    )
    result = ruam("status", "--json")
    assert result.exit_code == EXIT_UNAVAILABLE
    by_name = {s["service"]: s for s in as_json(result)["services"]}
    assert by_name["survey"]["health"] == "unreachable"
    assert "survey" in by_name["survey"]["detail"]
    assert by_name["compliance"]["health"] == "503"
    assert by_name["compliance"]["detail"] == "mongodb down"
    assert by_name["intake"]["healthy"] is True


def test_status_exits_1_when_dead_letters_wait_or_the_outbox_is_stale(fake: FakeStack) -> None:
    fake.on(
        lambda s, r: (
            httpx.Response(200, text=metrics_text(s, letters=2))
            if s == "intake" and r.url.path == "/metrics"
            else None
        )
    )
    assert ruam("status").exit_code == EXIT_ATTENTION
    fake.handlers.clear()
    fake.on(
        lambda s, r: (
            httpx.Response(200, text=metrics_text(s, backlog=1, oldest=61))
            if s == "survey" and r.url.path == "/metrics"
            else None
        )
    )
    assert ruam("status").exit_code == EXIT_ATTENTION


def test_status_of_some_services_only(fake: FakeStack) -> None:
    fake.down.add("portal")
    result = ruam("status", "-s", "intake", "-s", "routing", "--json")
    assert result.exit_code == EXIT_OK
    assert [s["service"] for s in as_json(result)["services"]] == ["intake", "routing"]
    assert ruam("status", "-s", "nope").exit_code == EXIT_USAGE


def test_addresses_come_from_the_stacks_port_variables() -> None:
    env = {"ROUTING_HTTP_PORT": "9102", "RUAM_HOST": "10.0.0.5"}
    local = Addresses.of("local", env=env)
    assert local.urls["intake"] == "http://10.0.0.5:8001"
    assert local.issuer == "http://10.0.0.5:8002/oidc"
    assert local.prometheus == "http://10.0.0.5:9090"
    assert Addresses.of("local", env={"RUAM_PROMETHEUS_URL": "http://p:1/"}).prometheus == (
        "http://p:1"
    )
    # The stack itself reads the process environment for the ports.
    assert Addresses.of("test", env={}).urls["routing"] == "http://127.0.0.1:18002"
    assert "console" not in Addresses.of("local", env={}).bus_services
    assert "intake" in Addresses.of("local", env={}).bus_services


# --------------------------------------------------------------------------- alerts


def prometheus_alerts(alerts: list[dict[str, Any]]) -> Handler:
    def handler(service: str, request: httpx.Request) -> httpx.Response | None:
        if service == "prometheus" and request.url.path == "/api/v1/alerts":
            return httpx.Response(200, json={"status": "success", "data": {"alerts": alerts}})
        return None

    return handler


def test_alerts_lists_what_prometheus_evaluates_firing_first(fake: FakeStack) -> None:
    fake.on(
        prometheus_alerts(
            [
                {
                    "labels": {"alertname": "RuamOutboxStale", "severity": "page"},
                    "annotations": {"summary": "routing/cases: 2m", "runbook": "docs/x"},
                    "state": "pending",
                },
                {
                    "labels": {"alertname": "RuamDeadLetterWaiting", "severity": "ticket"},
                    "annotations": {"summary": "1 dead letter", "runbook": "docs/runbook.md#y"},
                    "state": "firing",
                    "activeAt": "2026-12-01T03:00:00Z",
                },
            ]
        )
    )
    result = ruam("alerts", "--json")
    assert result.exit_code == EXIT_ATTENTION
    names = [a["labels"]["alertname"] for a in as_json(result)["alerts"]]
    assert names == ["RuamDeadLetterWaiting", "RuamOutboxStale"]
    table = ruam("alerts")
    assert "docs/runbook.md#y" in table.stdout and "1 dead letter" in table.stdout
    assert fake.tokens_issued == []  # Prometheus' API asks for no sign-in


def test_alerts_exit_0_when_none_fire_and_3_without_prometheus(fake: FakeStack) -> None:
    fake.on(
        prometheus_alerts(
            [{"labels": {"alertname": "RuamServiceDown"}, "annotations": {}, "state": "pending"}]
        )
    )
    assert ruam("alerts").exit_code == EXIT_OK
    fake.down.add("prometheus")
    missing = ruam("alerts")
    assert missing.exit_code == EXIT_UNAVAILABLE
    assert "MONITORING=1" in missing.stderr


# --------------------------------------------------------------------------- dead letters


def letter(lid: str, *, replays: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": lid,
        "reason": "invalid",
        "source_topic": "intake.raw",
        "failed_at": "2026-12-01T03:00:00+07:00",
        "replays": replays or [],
        **extra,
    }


def dlq(letters: dict[str, list[dict[str, Any]]]) -> Handler:
    def handler(service: str, request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v1/dlq" and request.method == "GET":
            offset = int(request.url.params.get("offset", 0))
            limit = int(request.url.params.get("limit", 50))
            items = letters.get(service, [])[offset : offset + limit]
            return httpx.Response(200, json={"items": items, "limit": limit, "offset": offset})
        return None

    return handler


def test_dlq_list_signs_in_as_the_operator_and_merges_every_service(fake: FakeStack) -> None:
    fake.on(
        dlq(
            {
                "intake": [letter("a-1"), letter("a-2", replays=["2026-12-01T04:00:00Z"])],
                "routing": [letter("r-1", source_topic="case.received")],
            }
        )
    )
    result = ruam("dlq", "list", "--json")
    assert result.exit_code == EXIT_ATTENTION  # two were never replayed
    items = as_json(result)["items"]
    assert {(i["service"], i["id"]) for i in items} == {
        ("intake", "a-1"),
        ("intake", "a-2"),
        ("routing", "r-1"),
    }
    assert fake.signed("intake", "/v1/dlq") == ["Bearer token-of-operator-0"]
    assert len(fake.tokens_issued) == 1  # one sign-in for every call
    # The console is on no topic: it keeps no letters and is not asked.
    assert fake.signed("console", "/v1/dlq") == []

    waiting = as_json(ruam("dlq", "list", "--waiting", "--json"))["items"]
    assert sorted(i["id"] for i in waiting) == ["a-1", "r-1"]
    table = ruam("dlq", "list", "--service", "routing")
    assert "r-1" in table.stdout and "a-1" not in table.stdout


def test_dlq_list_pages_through_a_long_list(fake: FakeStack) -> None:
    fake.on(dlq({"survey": [letter(f"s-{i}", replays=["x"]) for i in range(250)]}))
    result = ruam("dlq", "list", "--service", "survey", "--json")
    assert result.exit_code == EXIT_OK  # every one replayed already
    assert len(as_json(result)["items"]) == 250
    offsets = [r.url.params["offset"] for s, r in fake.requests if r.url.path == "/v1/dlq"]
    assert offsets == ["0", "100", "200"]


def test_dlq_show_finds_the_service_that_keeps_the_letter(fake: FakeStack) -> None:
    body = json.dumps({"text": "น้ำไม่ไหล"}, ensure_ascii=False)
    fake.on(
        lambda s, r: (
            httpx.Response(200, json=letter("r-9", body=body, encoding="utf-8"))
            if s == "routing" and r.url.path == "/v1/dlq/r-9"
            else None
        )
    )
    result = ruam("dlq", "show", "r-9")
    assert result.exit_code == EXIT_OK, result.output
    assert "น้ำไม่ไหล" in result.stdout and "intake.raw" in result.stdout
    asked = [s for s, r in fake.requests if r.url.path == "/v1/dlq/r-9"]
    assert asked == ["intake", "routing"]  # in order, until found
    assert ruam("dlq", "show", "nowhere").exit_code == EXIT_NOT_FOUND


def test_dlq_replay_and_its_refusals(fake: FakeStack) -> None:
    calls: list[str] = []

    def replay(service: str, request: httpx.Request) -> httpx.Response | None:
        path = request.url.path
        if path.startswith("/v1/dlq/") and request.method == "GET" and service == "intake":
            return httpx.Response(200, json=letter(path.rsplit("/", 1)[1]))
        if path.endswith("/replay") and request.method == "POST":
            calls.append(f"{service} {path} {request.url.query.decode()}")
            if "again=true" in str(request.url) or "a-1" in path:
                return httpx.Response(202, json={"replayed": "a-1", "to": "intake.raw"})
            return httpx.Response(
                409, json={"error": "not_replayable", "message": "already replayed at x"}
            )
        return None

    fake.on(replay)
    ok = ruam("dlq", "replay", "a-1")
    assert ok.exit_code == EXIT_OK and "replayed a-1" in ok.stdout
    refused = ruam("dlq", "replay", "a-2")
    assert refused.exit_code == EXIT_REFUSED
    assert "already replayed at x" in refused.stdout
    assert ruam("dlq", "replay", "a-2", "--again").exit_code == EXIT_OK
    assert calls[-1] == "intake /v1/dlq/a-2/replay again=true"
    assert ruam("dlq", "replay").exit_code == EXIT_USAGE  # neither an id nor --all


def test_dlq_replay_all_replays_only_the_waiting_ones(fake: FakeStack) -> None:
    fake.on(
        dlq(
            {
                "intake": [letter("a-1"), letter("a-2", replays=["earlier"])],
                "survey": [letter("s-1")],
            }
        )
    )
    replayed: list[str] = []

    def replay(service: str, request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/replay"):
            replayed.append(f"{service} {request.url.path}")
            if "s-1" in request.url.path:
                return httpx.Response(409, json={"message": "refused again: ValueError"})
            return httpx.Response(202, json={"to": "intake.raw"})
        return None

    fake.on(replay)
    result = ruam("dlq", "replay", "--all", "--json")
    assert sorted(replayed) == ["intake /v1/dlq/a-1/replay", "survey /v1/dlq/s-1/replay"]
    assert result.exit_code == EXIT_REFUSED  # one was refused
    items = {i["id"]: i for i in as_json(result)["items"]}
    assert items["a-1"]["replayed"] is True and items["s-1"]["replayed"] is False


def test_a_refused_token_is_taken_again_once(fake: FakeStack) -> None:
    seen: list[str] = []

    def expired_first(service: str, request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v1/dlq":
            seen.append(request.headers["authorization"])
            if len(seen) == 1:
                return httpx.Response(401, json={"error": "unauthorized"})
            return httpx.Response(200, json={"items": []})
        return None

    fake.on(expired_first)
    assert ruam("dlq", "list", "--service", "intake").exit_code == EXIT_OK
    assert seen == ["Bearer token-of-operator-0", "Bearer token-of-operator-1"]


def test_a_refused_sign_in_exits_3(fake: FakeStack) -> None:
    fake.on(
        lambda s, r: (
            httpx.Response(401, json={"error": "invalid_grant"})
            if r.url.path == "/oidc/token"
            else None
        )
    )
    result = ruam("dlq", "list")
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "operator cannot sign in" in result.stderr


# --------------------------------------------------------------------------- cases


def test_case_show_prints_the_whole_timeline_filed_entries_first(fake: FakeStack) -> None:
    def entry(seq: int, action: str) -> dict[str, Any]:
        return {"seq": seq, "at": f"2026-11-{seq:02d}", "action": action, "status": "x"}

    case = {
        "case_id": "SPT-2569-000123",
        "status": "in_progress",
        "channel": "line",
        "department": "engineering",
        "department_name": {"en": "Engineering"},
        "officer": {"id": "eng-somchai"},
        "overdue": True,
        "timeline": [entry(3, "acknowledge"), entry(4, "start")],
        "filed": {"timeline": 2, "assignments": 0, "escalations": 0},
        "filed_chunk_size": 2,
    }

    def routing(service: str, request: httpx.Request) -> httpx.Response | None:
        if service != "routing":
            return None
        if request.url.path == "/v1/cases/SPT-2569-000123":
            return httpx.Response(200, json=case)
        if request.url.path == "/v1/cases/SPT-2569-000123/history/timeline/0":
            return httpx.Response(200, json={"entries": [entry(1, "receive"), entry(2, "assign")]})
        return None

    fake.on(routing)
    data = as_json(ruam("case", "show", "SPT-2569-000123", "--json"))
    assert [e["action"] for e in data["timeline"]] == ["receive", "assign", "acknowledge", "start"]
    # The auditor reads every case, without personal data.
    assert fake.signed("routing", "/v1/cases/SPT-2569-000123")[0].startswith(
        "Bearer token-of-auditor"
    )
    shown = ruam("case", "show", "SPT-2569-000123")
    assert shown.exit_code == EXIT_OK
    assert "OVERDUE" in shown.stdout and "eng-somchai" in shown.stdout
    assert shown.stdout.index("receive") < shown.stdout.index("acknowledge")
    assert ruam("case", "show", "SPT-0000-000000").exit_code == EXIT_NOT_FOUND
    # Another reader, named before the command.
    assert ruam("--as", "palad", "case", "show", "SPT-2569-000123").exit_code == EXIT_OK
    assert fake.signed("routing", "/v1/cases/SPT-2569-000123")[-1].startswith(
        "Bearer token-of-palad"
    )


# --------------------------------------------------------------------------- rebuild


def test_rebuild_satisfaction(fake: FakeStack) -> None:
    posted: list[str] = []

    def survey(service: str, request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v1/satisfaction/rebuild":
            posted.append(f"{service} {request.method} {request.headers['authorization']}")
            return httpx.Response(200, json={"responses": 983, "buckets": 120, "removed": 0})
        return None

    fake.on(survey)
    result = ruam("rebuild", "satisfaction", "--json")
    assert result.exit_code == EXIT_OK
    assert as_json(result) == {"responses": 983, "buckets": 120, "removed": 0}
    assert posted == ["survey POST Bearer token-of-operator-0"]
    fake.on(
        lambda s, r: (
            httpx.Response(403, json={"error": "forbidden", "message": "operator only"})
            if r.url.path == "/v1/satisfaction/rebuild"
            else None
        )
    )
    refused = ruam("--as", "auditor", "rebuild", "satisfaction")
    assert refused.exit_code == EXIT_REFUSED and "operator only" in refused.stderr


# --------------------------------------------------------------------------- directory


def test_directory_check_of_the_shipped_file_and_a_broken_one(tmp_path: Path) -> None:
    shipped = ruam("directory", "check", "--json")
    assert shipped.exit_code == EXIT_OK
    assert as_json(shipped)["org_id"] == "sraphonthong"
    assert as_json(shipped)["departments"] > 0

    broken = tmp_path / "sraphonthong.yaml"
    text = (DEFAULT_ROOT / "sraphonthong.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("respond_days: 15", "respond_days: 30"), encoding="utf-8")
    assert "respond_days: 30" in broken.read_text(encoding="utf-8")
    refused = ruam("directory", "check", str(tmp_path))
    assert refused.exit_code == EXIT_ATTENTION
    assert "respond_days" in refused.stderr
    assert ruam("directory", "check", str(tmp_path), "--org", "nobody").exit_code == (
        EXIT_NOT_FOUND
    )


def test_directory_reload_marks_a_valid_file_changed(fake: FakeStack, tmp_path: Path) -> None:
    file = tmp_path / "sraphonthong.yaml"
    shutil.copy(DEFAULT_ROOT / "sraphonthong.yaml", file)
    old = time.time() - 3600
    os.utime(file, (old, old))
    result = ruam("directory", "reload", str(file))
    assert result.exit_code == EXIT_OK, result.output
    assert file.stat().st_mtime > old + 3000
    assert [s for s, r in fake.requests if r.url.path == "/healthz"] == ["routing"]

    file.write_text("departments: [", encoding="utf-8")
    os.utime(file, (old, old))
    assert ruam("directory", "reload", str(file)).exit_code == EXIT_ATTENTION
    assert file.stat().st_mtime == pytest.approx(old)  # routing keeps the last valid one


# --------------------------------------------------------------------------- replay


def test_replay_positions() -> None:
    assert bus.Position.parse("1200") == bus.Position(offset=1200)
    at = bus.Position.parse("2026-12-01T03:00:00+07:00").at
    assert at is not None and at.utcoffset() is not None
    with pytest.raises(ValueError, match="zone"):
        bus.Position.parse("2026-12-01T03:00:00")
    with pytest.raises(ValueError):
        bus.Position.parse("-5")
    assert bus.topic_of("case.received").value == "case.received"
    with pytest.raises(ValueError, match="dlq replay"):
        bus.topic_of("intake.dlq")
    with pytest.raises(ValueError, match="no topic"):
        bus.topic_of("case.nope")


def test_replay_refuses_a_wrong_command_line_before_touching_kafka() -> None:
    assert ruam("replay", "--topic", "intake.dlq", "--from", "0").exit_code == EXIT_USAGE
    assert ruam("replay", "--topic", "case.received", "--from", "noon").exit_code == EXIT_USAGE
