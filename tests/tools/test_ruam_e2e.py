"""`ruam` on the real test stack: `ruam status` (the installed console script) against
service processes of this test's own (topic prefix, database, ports), and `ruam replay`'s
publishing on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local import stack
from shared.kafka import client_options
from shared.topics import Topic, name
from tools.accounts import password_grant
from tools.ruam import bus
from tools.ruam.services import EXIT_ATTENTION, EXIT_OK, EXIT_REFUSED

REPO = Path(__file__).resolve().parents[2]
STATUS_SERVICES = ("intake", "routing", "survey")


async def publish(topic: str, value: bytes) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=stack.get_profile("test").kafka_bootstrap, **client_options()
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def own_services(
    real_stack: stack.Profile, isolation: str, tmp_path: Path
) -> Iterator[dict[str, int]]:
    """intake, routing and survey as processes, on ports of their own; stopped by their
    pids."""
    ports = {name: free_port() for name in STATUS_SERVICES}
    env = {
        **os.environ,
        **real_stack.env(),  # Kafka's admin: the test's prefix is in no service's ACLs
        "RUAM_TOPIC_PREFIX": f"{isolation}.",
        "MONGODB_DATABASE": f"ruam_{isolation}",
        "RUAM_OIDC_ISSUER": f"http://127.0.0.1:{ports['routing']}/oidc",
        "RUAM_OPS_EVERY_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for service, port in ports.items():
        env[stack.SERVICES[service]] = str(port)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for service in STATUS_SERVICES:
            # The child keeps its own copy of the descriptor: ours is closed at once.
            with open(tmp_path / f"{service}.log", "wb") as log:
                procs[service] = subprocess.Popen(
                    [sys.executable, "-m", f"services.{service}.main"],
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        for service, port in ports.items():
            try:
                stack.wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=180)
            except stack.StackError as exc:
                log_text = (tmp_path / f"{service}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{service} did not start:\n{log_text}") from exc
        yield ports
    finally:
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def ruam(ports: dict[str, int], *args: str) -> tuple[int, Any]:
    """The installed `ruam --profile test ... --json`, pointed at `ports`; (exit code, JSON)."""
    script = Path(sys.executable).parent / "ruam"
    assert script.exists(), "the ruam console script is installed with the project"
    env = {k: v for k, v in os.environ.items() if k != "RUAM_OIDC_ISSUER"}
    for service, port in ports.items():
        env["RUAM_TEST_" + stack.SERVICES[service]] = str(port)
    argv = [str(script), "--profile", "test", *args, "--json"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    # A command that fails says why on stderr, and prints no JSON.
    return done.returncode, json.loads(done.stdout) if done.stdout else done.stderr


def ruam_status(ports: dict[str, int]) -> tuple[int, dict[str, Any]]:
    return ruam(ports, "status", *[arg for service in ports for arg in ("-s", service)])


@pytest.mark.e2e
def test_ruam_status_and_case_show_on_real_services(
    own_services: dict[str, int], isolation: str
) -> None:
    # The gauges that need the broker or the database are computed by a loop of each
    # service soon after it starts (shared/ops.py: the lag first, the dead letters after the
    # outboxes): polled, bounded, until both services show both.
    deadline = time.monotonic() + 120
    while True:
        code, data = ruam_status(own_services)
        by_name = {s["service"]: s for s in data["services"]}
        if all(
            by_name[s]["lag"] is not None and by_name[s]["dead_letters"] is not None
            for s in STATUS_SERVICES
        ):
            break
        assert time.monotonic() < deadline, f"no lag or dead-letter gauge within 120 s: {data}"
        time.sleep(1)
    assert code == EXIT_OK, data
    assert sorted(by_name) == sorted(STATUS_SERVICES)
    for service in STATUS_SERVICES:
        status = by_name[service]
        assert status["healthy"] is True and status["health"] == "ok"
        assert status["url"] == f"http://127.0.0.1:{own_services[service]}"
        assert status["version"], status  # ruam_build_info
        assert status["dead_letters"] == 0
        # Nothing was sent: every group of the service is caught up.
        assert status["lag"] == 0 and status["lag_by_group"], status
    # A citizen's report becomes a case; ruam shows its timeline as the auditor sees it.
    from tools.bench import raw_submission

    run = uuid.uuid4().hex[:8]
    asyncio.run(publish(name(Topic.INTAKE_RAW, f"{isolation}."), raw_submission(run, 0)))
    routing = f"http://127.0.0.1:{own_services['routing']}"

    async def case_of_the_report() -> str | None:
        async with httpx.AsyncClient(timeout=10) as client:
            token = await password_grant(client, f"{routing}/oidc", "auditor")
            found = await client.get(
                f"{routing}/v1/cases",
                params={"channel_message_id": f"bench-{run}-0", "view": "summary"},
                headers={"Authorization": f"Bearer {token}"},
            )
            items = found.json()["items"] if found.status_code == 200 else []
            return str(items[0]["case_id"]) if items else None

    deadline = time.monotonic() + 120
    while (case_id := asyncio.run(case_of_the_report())) is None:
        assert time.monotonic() < deadline, "the report never became a case"
        time.sleep(1)
    code, case = ruam(own_services, "case", "show", case_id)
    assert code == EXIT_OK, case
    assert case["case_id"] == case_id and case["department"]
    actions = [entry["action"] for entry in case["timeline"]]
    assert actions[0] == "receive" and "assign" in actions, actions
    code, missing = ruam(own_services, "case", "show", "SPT-0000-000000")
    assert code == 4 and "SPT-0000-000000" in missing

    # Survey's recount, as the operator; refused to the auditor.
    code, counts = ruam(own_services, "rebuild", "satisfaction")
    assert code == EXIT_OK and isinstance(counts, dict), counts
    code, refused = ruam(own_services, "--as", "auditor", "rebuild", "satisfaction")
    assert code == EXIT_REFUSED and "403" in refused

    # A service that is gone is reported, and the exit code says so.
    code, data = ruam_status({**own_services, "survey": free_port()})
    survey = next(s for s in data["services"] if s["service"] == "survey")
    assert code == 3 and survey["health"] == "unreachable"


@pytest.mark.integration
async def test_replay_publishes_a_range_again_on_the_real_broker(
    real_stack: stack.Profile, isolation: str
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    prefix = f"{isolation}."
    topic = name(Topic.CASE_RECEIVED, prefix)
    options = client_options()
    producer = AIOKafkaProducer(bootstrap_servers=real_stack.kafka_bootstrap, **options)
    await producer.start()
    base = 1_700_000_000_000
    try:
        for i in range(6):
            await producer.send_and_wait(
                topic,
                f"event-{i}".encode(),
                key=b"SPT-1",
                partition=0,
                timestamp_ms=base + i * 60_000,
                headers=[("x-test", str(i).encode())],
            )
    finally:
        await producer.stop()

    async def read_partition() -> list[Any]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=real_stack.kafka_bootstrap, enable_auto_commit=False, **options
        )
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            records: list[Any] = []
            while len(records) < end:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                records += batch.get(tp, [])
            return records
        finally:
            await consumer.stop()

    seen: list[list[bus.PartitionRange]] = []
    done: list[int] = []
    common: dict[str, Any] = {"partitions": [0], "prefix": prefix, **options}
    # A dry run publishes nothing.
    await bus.replay(
        real_stack.kafka_bootstrap,
        Topic.CASE_RECEIVED,
        bus.Position(offset=2),
        bus.Position(offset=5),
        dry_run=True,
        **common,
    )
    assert len(await read_partition()) == 6
    ranges = await bus.replay(
        real_stack.kafka_bootstrap,
        Topic.CASE_RECEIVED,
        bus.Position(offset=2),
        bus.Position(offset=5),
        planned=seen.append,
        progress=done.append,
        **common,
    )
    assert [(r.partition, r.start, r.end) for r in ranges] == [(0, 2, 5)]
    assert seen == [ranges] and sum(done) == 3
    records = await read_partition()
    assert [r.value for r in records[6:]] == [b"event-2", b"event-3", b"event-4"]
    again = dict(records[7].headers)
    assert again["x-test"] == b"3"
    assert again[bus.REPLAYED_FROM] == f"{topic}:0:3".encode()
    assert records[7].key == b"SPT-1"

    # From a time: the first record at or after it, to the end as it is now (9 records).
    at = bus.Position.parse(
        time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(base / 1000 + 240))
    )
    ranges = await bus.replay(real_stack.kafka_bootstrap, Topic.CASE_RECEIVED, at, **common)
    assert [(r.start, r.end) for r in ranges] == [(4, 9)]
    assert len(await read_partition()) == 14


@pytest.mark.e2e
def test_the_local_prometheus_and_a_dead_letter_on_real_services(
    own_services: dict[str, int], isolation: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make up MONITORING=1` on real services: ruam_* series keep the service they name
    (not renamed exported_service); series without one take their target's. Then a dead
    letter: `ruam status` and `ruam dlq` show it, a replay is refused again, and the
    RuamDeadLetterWaiting alert fires in Prometheus."""
    import dataclasses
    import urllib.error
    import urllib.parse
    import urllib.request

    # Prometheus scrapes what runs: the two services of this test.
    profile = dataclasses.replace(
        stack.get_profile("test"), run_dir=tmp_path / "run", service_ports=dict(own_services)
    )
    port = free_port()
    monkeypatch.setenv("RUAM_PROMETHEUS_PORT", str(port))
    monkeypatch.setenv("MONITORING", "1")

    def query(expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            result: list[dict[str, Any]] = json.loads(r.read())["data"]["result"]
            return result

    try:
        stack.monitoring(profile)
        deadline = time.monotonic() + 90
        while len(query('up{job="ruam"} == 1')) < len(STATUS_SERVICES):
            assert time.monotonic() < deadline, query("up")
            time.sleep(1)

        def services_in(expr: str) -> list[str]:
            """The services a query names, once every one does: a series such as the lag
            appears only after a consumer has its partitions, one scrape after another."""
            deadline = time.monotonic() + 60
            while True:
                named = sorted(r["metric"].get("service", "") for r in query(expr))
                if named == sorted(STATUS_SERVICES) or time.monotonic() > deadline:
                    return named
                time.sleep(1)

        assert services_in("ruam_build_info") == sorted(STATUS_SERVICES)
        assert services_in("sum by (service) (ruam_consumer_lag)") == sorted(STATUS_SERVICES)
        # Counted by a collector that names no service (shared/mongo.py).
        stored = services_in("sum by (service) (ruam_db_operations_total)")
        assert stored == sorted(STATUS_SERVICES)
        assert query('{__name__=~"ruam_.*", exported_service!=""}') == []

        # A message intake can never take: a dead letter, seen by ruam and by the alert.
        asyncio.run(publish(name(Topic.INTAKE_RAW, f"{isolation}."), b"not json at all"))
        deadline = time.monotonic() + 120
        while True:
            code, status = ruam_status(own_services)
            intake = next(s for s in status["services"] if s["service"] == "intake")
            if intake["dead_letters"]:
                break
            assert time.monotonic() < deadline, status
            time.sleep(1)
        assert intake["dead_letters"] == 1 and code == EXIT_ATTENTION
        # Signed in at the services' own issuer, as the operator.
        code, letters = ruam(own_services, "dlq", "list", "--service", "intake")
        assert code == EXIT_ATTENTION, letters
        [letter] = letters["items"]
        assert letter["source_topic"] == name(Topic.INTAKE_RAW, f"{isolation}.")
        code, shown = ruam(own_services, "dlq", "show", letter["id"])
        assert code == EXIT_OK and shown["body"] == "not json at all"
        code, replayed = ruam(own_services, "dlq", "replay", letter["id"])
        assert code == EXIT_REFUSED, replayed  # still not JSON: refused again, kept
        assert "refused again" in replayed["items"][0]["error"]

        # Scraped every 15 s, evaluated every 30 s: polled, bounded.
        firing = 'ALERTS{alertname="RuamDeadLetterWaiting", alertstate="firing"}'
        deadline = time.monotonic() + 150
        while not query(firing):
            assert time.monotonic() < deadline, query("ruam_dead_letters_waiting")
            time.sleep(2)
        [alert] = query(firing)
        assert alert["metric"]["service"] == "intake"
        assert alert["metric"]["topic"] == "intake.raw"
        # Every dashboard and alert query runs on real data without an error.
        from tests.deploy.test_dashboards import alert_queries, dashboard_queries

        for where, expr in [*dashboard_queries(), *alert_queries()]:
            try:
                query(expr.replace("$fiscal_year", "2569"))
            except urllib.error.HTTPError as exc:
                raise AssertionError(f"{where}: {exc.read()!r}") from exc
        code, listed = ruam(own_services, "alerts")
        assert code == EXIT_ATTENTION
        [shown] = [
            a for a in listed["alerts"] if a["labels"]["alertname"] == "RuamDeadLetterWaiting"
        ]
        assert shown["state"] == "firing"
        assert shown["annotations"]["runbook"] == "docs/runbook.md#ruamdeadletterwaiting"
    finally:
        stack.monitoring(profile, stop=True)


@pytest.mark.integration
def test_the_replay_command_on_the_real_broker(
    real_stack: stack.Profile, isolation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiokafka import AIOKafkaProducer
    from typer.testing import CliRunner

    from tools.ruam import cli

    prefix = f"{isolation}."

    async def produce() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=real_stack.kafka_bootstrap, **client_options()
        )
        await producer.start()
        try:
            for i in range(3):
                await producer.send_and_wait(
                    name(Topic.SURVEY_RESPONDED, prefix), f"r-{i}".encode(), partition=1
                )
        finally:
            await producer.stop()

    asyncio.run(produce())
    monkeypatch.setenv("RUAM_TOPIC_PREFIX", prefix)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)  # the profile's broker
    base = ["--profile", "test", "replay", "--topic", "survey.responded", "--from", "1"]

    def ruam(*args: str) -> Any:
        return CliRunner().invoke(cli.app, [*base, *args])

    planned = ruam("--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["ranges"] == [
        {"partition": 1, "start": 1, "end": 3, "count": 2}
    ]
    # Not at a terminal, and not told --yes: nothing is published.
    assert ruam("--json").exit_code == 2
    done = ruam("--yes", "--json", "--partition", "1")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["records"] == 2
    # The two came back at the end of the partition: a second plan from 1 sees four.
    again = json.loads(ruam("--dry-run", "--json").stdout)["ranges"]
    assert again == [{"partition": 1, "start": 1, "end": 5, "count": 4}]
    missing = CliRunner().invoke(
        cli.app, ["--profile", "test", "replay", "--topic", "case.closed", "--from", "0", "--yes"]
    )
    assert missing.exit_code == 4  # the prefix's case.closed was never created
