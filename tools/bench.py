"""`make bench`: how the pipeline's speed and memory hold up as stored cases grow.

In one run, on the local stack's Kafka and FerretDB:
  (a) raw: an aiokafka producer -> consumer relay on the same broker, same message size;
  (b) for each stored-case level (0, 10,000 and 50,000 by default), three rounds with the
      levels alternating in order (0, 10,000, 50,000, then 50,000, 10,000, 0, ...), each
      on a database of its own: bulk-load that many cases straight into the store (not
      through the pipeline), start intake and routing on it, then
      - warm-up: 200 submissions, not counted (consumer groups joining, connections
        opening, code run for the first time), as the raw relay sends one first;
      - pipeline: N submissions published to intake.raw as fast as they go, until all
        are assigned cases (throughput; time spent in intake and in routing);
      - latency: submissions offered at a fixed rate (100/s), publish -> case.assigned,
        and again at a rate the pipeline keeps up with (20/s);
      - database operations per case, from the services' own counters;
      - CPU with nothing to do (idle), per process, once every message is handled;
      - the machine's own speed just before and after the burst: a fixed pure-Python
        loop, timed, as the machine's speed drifts from one minute to the next;
  (c) peak RSS (VmHWM) of the intake and routing processes.
A level's figures are the medians of its rounds (every round is in the JSON): one burst
on this machine can run 40 % faster or slower than the next with the same code and data.
The bench runs its own intake and routing on a database and topic prefix of its own, so
the demo's data is neither counted nor touched; they go when it ends (--keep keeps them).
Results go to bench-results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from deploy.local import stack
from services.routing.adapters.mongo_cases import index_entry, to_document
from services.routing.domain.model import Case, CategoryScore, Status, TimelineEntry
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.kafka import client_options, delete_topics, tool_settings
from shared.ops import LagReader
from shared.topics import Topic, name
from tools import processes

REPO = Path(__file__).resolve().parents[1]
TEXT = "ถนนชำรุดเป็นหลุมลึก หน้าบ้านเลขที่ 12 หมู่ที่ 4 รถจักรยานยนต์ล้มบ่อย ขอให้ซ่อมด่วน"
SEED_TEXTS = (
    TEXT,
    "ไฟฟ้าส่องสว่างดับทั้งซอย หมู่ที่ 2 กลางคืนมืดมาก",
    "ท่อระบายน้ำอุดตัน น้ำท่วมขังหน้าตลาด หมู่ที่ 7",
    "ขยะไม่มีคนเก็บมาสามวันแล้ว ส่งกลิ่นเหม็น หมู่ที่ 1",
    "น้ำประปาไม่ไหลตั้งแต่เมื่อวาน หมู่ที่ 9",
    "กิ่งไม้ใหญ่หักขวางถนน หมู่ที่ 5 รถผ่านไม่ได้",
)
SEED_CATEGORIES = ("road", "streetlight", "drainage", "waste", "water", "tree")
PORTS = {"intake": 8101, "routing": 8102}
ORG = "sraphonthong"


def raw_submission(run: str, n: int, texts: Sequence[str] = (TEXT,)) -> bytes:
    body = json.dumps(
        {
            "channel": "web",
            "kind": "complaint",
            "text": texts[n % len(texts)],
            "channel_message_id": f"bench-{run}-{n}",
        },
        ensure_ascii=False,
    )
    event = RawPayloadReceived(
        org_id=ORG,
        payload=RawPayloadReceivedPayload(
            channel="web",
            received_at=datetime.now(UTC),
            body=body,
            channel_message_id=f"bench-{run}-{n}",
        ),
    )
    return event.model_dump_json().encode()


def burst_texts(which: str) -> tuple[str, ...]:
    """The texts the submissions cycle through. The real reports are those intake accepts
    as a web complaint, so that every one sent becomes a case the bench waits for."""
    if which == "short":
        return (TEXT,)
    from services.intake.domain.model import Submission
    from tools.train_classifier import load_reports

    fields = {"channel": "web", "kind": "complaint", "channel_message_id": "bench"}
    accepted = []
    for report in load_reports():
        try:
            Submission.model_validate({**fields, "text": report.text})
        except ValueError:  # pydantic's ValidationError: an empty text, say
            continue
        accepted.append(report.text)
    return tuple(accepted)


async def raw_relay(bootstrap: str, count: int, size: int) -> float:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, **client_options(), enable_idempotence=True, acks="all"
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        **client_options(),
        group_id=f"{topic}.g",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await producer.start()
    await consumer.start()
    payload = b"x" * size
    try:
        await producer.send_and_wait(topic, b"warm-up")
        await consumer.getone()
        start = time.perf_counter()
        sends = [await producer.send(topic, payload, key=str(i).encode()) for i in range(count)]
        await asyncio.gather(*sends)
        got = 0
        while got < count:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                got += len(records)
            await consumer.commit()
        return count / (time.perf_counter() - start)
    finally:
        await consumer.stop()
        await producer.stop()
        await forget_topics(topic)


async def forget_topics(prefix: str) -> None:
    """Delete the run's topics. A failure is printed, not raised: it must not hide why the
    run itself failed."""
    try:
        await delete_topics(prefix)
    except Exception as exc:
        print(f"bench: topics {prefix}* left on the broker: {exc!r}", flush=True)


# ----------------------------------------------------------------------- the services


@dataclass
class BenchServices:
    """intake and routing of the bench's own, on its own database and topic prefix."""

    profile: stack.Profile
    database: str
    prefix: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.profile.env()}
        env.update(
            MONGODB_DATABASE=self.database,
            RUAM_TOPIC_PREFIX=self.prefix,
            INTAKE_HTTP_PORT=str(PORTS["intake"]),
            ROUTING_HTTP_PORT=str(PORTS["routing"]),
            PYTHONUNBUFFERED="1",
        )
        return env

    async def start(self) -> None:
        await asyncio.to_thread(self._spawn)
        try:
            await self._wait_healthy()
        except BaseException:
            # One that did not come up must not leave the other holding its port (and
            # its consumer groups) for the next run.
            await self.stop()
            raise

    def _spawn(self) -> None:
        logs = REPO / "bench-results" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for svc in PORTS:
            with (logs / f"{svc}.log").open("ab") as out:
                self.procs[svc] = subprocess.Popen(
                    [str(stack.service_python()), "-m", f"services.{svc}.main"],
                    env=self.env(),
                    cwd=REPO,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    async def _wait_healthy(self) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            for svc, port in PORTS.items():
                deadline = time.monotonic() + 300
                while True:
                    try:
                        r = await client.get(f"http://127.0.0.1:{port}/healthz")
                        if r.status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if self.procs[svc].poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"bench {svc} did not start; see bench-results/logs")
                    await asyncio.sleep(0.2)

    def rss(self) -> dict[str, float]:
        for svc, proc in self.procs.items():
            status = Path(f"/proc/{proc.pid}/status")
            if status.exists():
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        mb = int(line.split()[1]) / 1024
                        self.peak_rss[svc] = max(self.peak_rss.get(svc, 0.0), mb)
        return dict(self.peak_rss)

    async def stop(self) -> None:
        self.rss()
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far (user + system) by the bench's services, the stack's
        Kafka and FerretDB, and the bench itself: what a case costs, beside how long it
        takes."""
        pids = {svc: proc.pid for svc, proc in self.procs.items()}
        for infra in stack.INFRA:
            pid = stack.tracked_pid(self.profile, infra)
            if pid is not None:
                pids[infra] = pid
        used = {process: processes.cpu_seconds(pid) for process, pid in pids.items()}
        # The bench's own sending and watching: taken from the same two cores.
        times = os.times()
        used["bench"] = times.user + times.system
        return {process: seconds for process, seconds in used.items() if seconds is not None}

    async def settled(self, timeout: float = 120.0) -> float:
        """Wait until both services have caught up with every topic they read (no lag, no
        message under way, twice in a row): a run's latency is then its own, not the
        previous run's follow-ups (routing's answers to intake) still being worked off.
        Returns the seconds waited (`timeout` if they never caught up: the run goes on,
        and the figure in the results says so).

        The lag is read here, from the broker, for the groups the services' own lag gauge
        names: their gauge is refreshed every 15 s, and refreshing it every second instead
        cost them and Kafka several per cent of a core during the bursts measured."""
        start = time.monotonic()
        quiet = 0
        groups: dict[str, str] = {}
        reader = LagReader(tool_settings(), lambda: groups)
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                while quiet < 2 and time.monotonic() - start < timeout:
                    await asyncio.sleep(1.0)
                    busy = 0.0
                    for port in PORTS.values():
                        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                        for m in re.finditer(
                            r"^ruam_messages_in_flight(?:\{[^}]*\})? (\S+)$", text, re.M
                        ):
                            busy += float(m.group(1))
                        for m in re.finditer(r"^ruam_consumer_lag\{([^}]*)\}", text, re.M):
                            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                            groups[labels["group"]] = self.prefix + labels["topic"]
                    if not groups:
                        quiet = 0  # the services' first look at their groups is not in yet
                        continue
                    lags = await reader.read()
                    busy += sum(sum(by_partition.values()) for by_partition in lags.values())
                    quiet = quiet + 1 if busy == 0 else 0
        finally:
            await reader.close()
        return time.monotonic() - start

    async def db_operations(self) -> dict[str, float]:
        """Database commands the two services have sent so far, by service, command and
        collection (`intake find submissions`)."""
        counts: dict[str, float] = {}
        async with httpx.AsyncClient(timeout=5.0) as client:
            for service, port in PORTS.items():
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                for m in re.finditer(r"^ruam_db_operations_total\{([^}]*)\} (\S+)$", text, re.M):
                    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                    key = f"{service} {labels.get('command')} {labels.get('collection', '')}"
                    counts[key.strip()] = counts.get(key.strip(), 0.0) + float(m.group(2))
        return counts


# ----------------------------------------------------------------------- the seeder


def seeded_case(n: int, now: datetime, rng: random.Random) -> tuple[Case, dict[str, Any]]:
    """A case as routing and intake would hold it after years of work: most closed."""
    k = n % len(SEED_TEXTS)
    received = now - timedelta(days=30 + rng.randrange(5 * 365))
    is_open = rng.random() < 0.05
    if is_open:
        received = now - timedelta(days=rng.randrange(10))
    case_id = f"SPT-{received.year + 543}-S{n:07d}"
    village = 1 + rng.randrange(10)
    lat, lon = 15.0 + rng.random() * 0.05, 103.0 + rng.random() * 0.05
    category = CategoryScore(SEED_CATEGORIES[k], SEED_CATEGORIES[k], SEED_CATEGORIES[k], 0.9, ())
    timeline = [
        TimelineEntry(1, received, "received", "received", None, None),
        TimelineEntry(2, received, "assigned", "assigned", None, None),
    ]
    if not is_open:
        timeline += [
            TimelineEntry(
                3, received + timedelta(days=1), "acknowledge", "acknowledged", "o1", None
            ),
            TimelineEntry(4, received + timedelta(days=5), "resolve", "resolved", "o1", "ซ่อมแล้ว"),
            TimelineEntry(5, received + timedelta(days=12), "close", "closed", "o1", None),
        ]
    case = Case(
        case_id=case_id,
        org_id=ORG,
        kind="complaint",
        channel="web",
        text=SEED_TEXTS[k],
        received_at=received,
        status=Status.IN_PROGRESS if is_open else Status.CLOSED,
        department="engineering",
        officer_id=f"seed-officer-{n % 7}",
        categories=[category],
        ranking=[category],
        reasons=["seeded by make bench"],
        respond_due_at=received + timedelta(days=15),
        village_no=village,
        lat=lat,
        lon=lon,
        channel_message_id=f"seed-{n}",
        timeline=timeline,
        assigned_at=received,
        updated_at=received,
        closed_at=None if is_open else received + timedelta(days=12),
        resolved_at=None if is_open else received + timedelta(days=5),
        resolution=None if is_open else "ซ่อมแล้ว",
    )
    submission = {
        "_id": f"web:seed-{n}",
        "case_id": case_id,
        "channel": "web",
        "kind": "complaint",
        "channel_message_id": f"seed-{n}",
        "received_at": received,
        "month": f"{received:%Y-%m}",
        "stored_at": received,
        "contact_ref": None,
        "public": {"text": SEED_TEXTS[k], "lat": lat, "lon": lon, "village_no": village},
        "additions": [],
        "progress": {"status": case.status.value},
        "is_open": is_open,
        "version": 3,
        "outbox": [],
    }
    return case, submission


async def seed(url: str, database: str, start: int, stop: int, batch: int = 2000) -> float:
    """Insert cases start..stop-1 in bulk; returns documents per second."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    db = client[database]
    rng = random.Random(start)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        for lo in range(start, stop, batch):
            cases, index, submissions, keys = [], [], [], []
            for n in range(lo, min(stop, lo + batch)):
                case, submission = seeded_case(n, now, rng)
                doc = to_document(case)
                doc.update(version=4, outbox=[])
                cases.append(doc)
                index.append(index_entry(doc))
                submissions.append(submission)
                keys.append({"_id": "case:" + case.case_id, "key": submission["_id"]})
            await db["cases"].insert_many(cases, ordered=False)
            await db["case_index"].insert_many(index, ordered=False)
            await db["submissions"].insert_many(submissions, ordered=False)
            await db["submission_keys"].insert_many(keys, ordered=False)
    finally:
        await client.close()
    return (stop - start) * 4 / max(time.perf_counter() - t0, 1e-9)


# ----------------------------------------------------------------------- the pipeline


class AssignedWatcher:
    """Follows case.received (message id -> case id) and case.assigned (case id -> time)."""

    def __init__(self, bootstrap: str, prefix: str, run: str) -> None:
        self.run = run
        self.case_of: dict[str, str] = {}
        self.received_at: dict[str, float] = {}
        self.assigned_at: dict[str, float] = {}
        # Cases of this run both received and assigned, counted as they come: the sender
        # polls it every 20 ms, and rescanning every message id each time took CPU from
        # the services measured.
        self.finished = 0
        self._received: set[str] = set()  # case ids of this run's receipts
        self.consumer = AIOKafkaConsumer(
            name(Topic.CASE_RECEIVED, prefix),
            name(Topic.CASE_ASSIGNED, prefix),
            bootstrap_servers=bootstrap,
            **client_options(),
            group_id=f"bench.{run}",
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        while not self.consumer.assignment():  # wait for the partitions before sending
            await asyncio.sleep(0.05)
        for tp in self.consumer.assignment():
            await self.consumer.seek_to_end(tp)
        self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        async for record in self.consumer:
            now = time.perf_counter()
            event = json.loads(record.value)
            payload = event["payload"]
            if event["type"] == "CaseReceived":
                mid = payload.get("channel_message_id") or ""
                if mid.startswith(f"bench-{self.run}-") and mid not in self.case_of:
                    case_id = self.case_of[mid] = payload["case_id"]
                    self.received_at[mid] = now
                    self._received.add(case_id)
                    self._count(case_id)
            elif event["type"] == "CaseAssigned":
                case_id = payload["case_id"]
                if case_id not in self.assigned_at:
                    self.assigned_at[case_id] = now
                    self._count(case_id)

    def _count(self, case_id: str) -> None:
        """A case is finished when both its receipt and its assignment were seen, in
        whichever order they came (they are on different topics)."""
        if case_id in self.assigned_at and case_id in self._received:
            self.finished += 1

    def done(self) -> int:
        return self.finished

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        await self.consumer.stop()


async def pipeline(
    bootstrap: str,
    prefix: str,
    count: int,
    rate: float | None,
    run: str,
    texts: Sequence[str],
) -> dict[str, Any]:
    watcher = AssignedWatcher(bootstrap, prefix, run)
    await watcher.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, **client_options(), enable_idempotence=True, acks="all"
    )
    await producer.start()
    sent_at: dict[str, float] = {}
    mids = [f"bench-{run}-{n}" for n in range(count)]
    # Built before the clock starts, as a load generator does: the bench shares the
    # machine's two cores with what it measures.
    bodies = [raw_submission(run, n, texts) for n in range(count)]
    topic = name(Topic.INTAKE_RAW, prefix)
    try:
        start = time.perf_counter()
        for n, mid in enumerate(mids):
            if rate:
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at[mid] = time.perf_counter()
            await producer.send(topic, bodies[n], key=mid.encode())
        await producer.flush()
        deadline = time.perf_counter() + max(120.0, count / 5)
        while watcher.done() < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        done = [m for m in mids if watcher.case_of.get(m) in watcher.assigned_at]
        total = sorted((watcher.assigned_at[watcher.case_of[m]] - sent_at[m]) * 1000 for m in done)
        intake = sorted((watcher.received_at[m] - sent_at[m]) * 1000 for m in done)
        routing = sorted(
            (watcher.assigned_at[watcher.case_of[m]] - watcher.received_at[m]) * 1000 for m in done
        )
    finally:
        await producer.stop()
        await watcher.stop()
    return {
        "sent": count,
        "assigned": len(done),
        "seconds": elapsed,
        "per_second": len(done) / elapsed,
        "latency_ms": summary(total),
        "intake_ms": summary(intake),
        "routing_ms": summary(routing),
    }


def reference_loop_ms(repeats: int = 3) -> float:
    """How long this machine takes, now, for a fixed piece of pure Python (the fastest of
    `repeats`): beside a level's figures, it tells a slow minute of the machine from a
    slower pipeline (docs/storage.md, "A case's work, counted")."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i * i % 7
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99)}


async def level(
    services: BenchServices,
    bootstrap: str,
    stored: int,
    args: argparse.Namespace,
    run: str,
    texts: Sequence[str],
) -> dict[str, Any]:
    await services.start()
    try:
        # Like the raw relay's warm-up message: the burst measures a running pipeline, not
        # its first seconds (consumer groups joining, connections opening, code first run).
        warm_up = await pipeline(
            bootstrap, services.prefix, args.warm_up, None, f"{run}w{stored}", texts
        )
        warm_up["caught_up_after_s"] = round(await services.settled(), 1)
        machine_before = reference_loop_ms()
        ops0 = await services.db_operations()
        cpu0 = services.cpu_seconds()
        burst = await pipeline(
            bootstrap, services.prefix, args.count, None, f"{run}a{stored}", texts
        )
        burst["caught_up_after_s"] = round(await services.settled(), 1)
        cpu1 = services.cpu_seconds()
        machine_after = reference_loop_ms()
        ops1 = await services.db_operations()
        paced = await pipeline(
            bootstrap,
            services.prefix,
            args.latency_count,
            args.rate,
            f"{run}b{stored}",
            texts,
        )
        paced["caught_up_after_s"] = round(await services.settled(), 1)
        # Latency where the pipeline keeps up, beside the one at the rate asked for.
        steady = await pipeline(
            bootstrap,
            services.prefix,
            args.steady_count,
            args.steady_rate,
            f"{run}c{stored}",
            texts,
        )
        await services.settled()
        # With nothing to do: what a service costs an operator who runs it all day.
        idle0, idle_started = services.cpu_seconds(), time.monotonic()
        await asyncio.sleep(args.idle_seconds)
        idle1, idle_seconds = services.cpu_seconds(), time.monotonic() - idle_started
        services.rss()
    finally:
        await services.stop()
    cases = max(burst["assigned"], 1)
    cpu_ms = {k: round((v - cpu0[k]) * 1000 / cases, 2) for k, v in cpu1.items() if k in cpu0}
    cpu_all = sum(cpu_ms.values())
    per_case = {
        k: round((v - ops0.get(k, 0.0)) / cases, 2)
        for k, v in ops1.items()
        if v - ops0.get(k, 0.0) > 0
    }
    return {
        "stored": stored,
        "warm_up": warm_up,
        "pipeline": burst,
        "paced": {**paced, "offered_rate": args.rate},
        "steady": {**steady, "offered_rate": args.steady_rate},
        "db_operations_per_case": sum(per_case.values()),
        "db_operations_by_kind": dict(sorted(per_case.items(), key=lambda kv: -kv[1])),
        "cpu_ms_per_case": cpu_ms,
        "cpu_ms_per_case_all": round(cpu_all, 2),
        # CPU seconds a second over the burst: when it is the machine's cores, the rate is
        # set by a case's CPU, the figure to compare across runs (README, `make bench`).
        "cores_used": round(burst["per_second"] * cpu_all / 1000, 2),
        "reference_loop_ms": {"before": machine_before, "after": machine_after},
        "idle_cpu_percent": {
            k: round((v - idle0[k]) * 100 / idle_seconds, 1) for k, v in idle1.items() if k in idle0
        },
    }


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("-n", "--count", type=int, default=2000, help="submissions per burst")
    parser.add_argument(
        "--warm-up", type=int, default=200, help="submissions before the burst, not counted"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="offered rate for latency")
    parser.add_argument("--latency-count", type=int, default=1000)
    parser.add_argument("--steady-rate", type=float, default=20.0, help="a rate it keeps up with")
    parser.add_argument("--steady-count", type=int, default=200)
    parser.add_argument("--levels", default="0,10000,50000", help="stored cases to measure at")
    parser.add_argument(
        "--idle-seconds", type=float, default=10.0, help="CPU measured with nothing to do"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="bursts per level, levels alternating in order"
    )
    parser.add_argument(
        "--texts",
        choices=("short", "traffy"),
        default="short",
        help="what the submissions say: the one 82-character report every figure so far used, "
        "or the real Traffy Fondue reports in turn (read in place; 197 characters on average)",
    )
    parser.add_argument(
        "--no-real-reports",
        dest="real_reports",
        action="store_false",
        help="skip the round of real reports after the curve",
    )
    parser.add_argument("--profile", default="local")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and topics")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    profile = stack.get_profile(args.profile)
    bootstrap = profile.kafka_bootstrap
    run = uuid.uuid4().hex[:8]
    texts = burst_texts(args.texts)
    size = round(statistics.mean(len(raw_submission(run, n, texts)) for n in range(100)))
    levels = sorted({int(x) for x in args.levels.split(",")})
    prefix = f"bench{run}."

    print(f"bench: raw relay of {args.count} x {size} B ...", flush=True)
    raw = await raw_relay(bootstrap, args.count, size)
    rounds: dict[int, list[dict[str, Any]]] = {target: [] for target in levels}
    peak_rss: dict[str, float] = {}

    async def one_round(n: int, target: int, which: str, said: Sequence[str]) -> dict[str, Any]:
        services = BenchServices(profile, f"ruam_bench_{run}_{n}_{target}_{which}", prefix)
        try:
            if target:
                print(f"bench: bulk-loading {target:,} cases ...", flush=True)
                rate = await seed(profile.mongodb_url, services.database, 0, target)
                print(f"bench:   {rate:,.0f} documents/s", flush=True)
            print(
                f"bench: round {n + 1}/{args.rounds}, {target:,} stored, {which} reports: "
                f"{args.count} as fast as they go, then {args.latency_count} at "
                f"{args.rate:g}/s ...",
                flush=True,
            )
            r = await level(services, bootstrap, target, args, f"{run}r{n}{which[0]}", said)
        finally:
            if not args.keep:
                await drop_database(profile.mongodb_url, services.database)
        for svc, mb in services.peak_rss.items():
            peak_rss[svc] = max(peak_rss.get(svc, 0.0), mb)
        print(
            f"bench:   {r['pipeline']['per_second']:.1f} cases/s, "
            f"p99 {r['paced']['latency_ms']['p99']:.0f} ms at {args.rate:g}/s, "
            f"{r['db_operations_per_case']:.1f} db ops/case; CPU ms/case "
            + ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms_per_case"].items())
            + f" ({r['cpu_ms_per_case_all']:.1f} in all, {r['cores_used']:.2f} cores used)"
            + "; idle CPU % of a core "
            + ", ".join(f"{k} {v:.1f}" for k, v in r["idle_cpu_percent"].items())
            + "; reference loop {before:.0f} -> {after:.0f} ms".format(**r["reference_loop_ms"]),
            flush=True,
        )
        return r

    real: dict[str, Any] | None = None
    try:
        for n in range(args.rounds):
            # Levels alternate in order, round after round, so that a slow minute of the
            # machine does not always land on the same level (docs/storage.md, "0 against
            # 50,000 stored, alternated").
            for target in levels if n % 2 == 0 else levels[::-1]:
                rounds[target].append(await one_round(n, target, args.texts, texts))
        if args.real_reports and args.texts != "traffy":
            # The curve's report is one short text; real ones are longer and cost routing's
            # classifier and every store more. One round of them, right after the curve's
            # last round at the same level, says how far the curve's figures carry.
            top = max(levels)
            reports = burst_texts("traffy")
            real = await one_round(args.rounds - 1, top, "traffy", reports)
            real["beside"] = rounds[top][-1]["pipeline"]["per_second"]
            real["reports"] = len(reports)
    finally:
        if not args.keep:
            await forget_topics(prefix)

    results = [level_summary(target, rounds[target]) for target in levels]
    first, last = results[0], results[-1]
    flat = last["per_second"] / first["per_second"]
    out = {
        "at": datetime.now(UTC).isoformat(),
        "texts": args.texts,
        "message_bytes": size,
        "raw_per_second": raw,
        "rounds": args.rounds,
        "levels": results,
        "flat": flat,
        "peak_rss_mb": peak_rss,
        "real_reports": real,
    }
    out_dir = REPO / "bench-results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2))

    print(
        f"\n  medians of {args.rounds} round(s) a level"
        f"\n  stored   cases/s (lowest-highest)  intake p50  routing p50"
        f"  p50/p99 @{args.rate:g}/s   p50/p99 @{args.steady_rate:g}/s  db ops/case"
        f"  CPU ms/case"
    )
    for r in results:
        lo, hi = r["per_second_range"]
        print(
            f"  {r['stored']:>6,}  {r['per_second']:>8.1f} ({lo:>5.1f}-{hi:<5.1f})"
            f"    {r['intake_p50_ms']:>7.0f} ms  {r['routing_p50_ms']:>8.0f} ms"
            f"  {r['paced_p50_ms']:>6.0f} / {r['paced_p99_ms']:>5.0f} ms"
            f"  {r['steady_p50_ms']:>6.0f} / {r['steady_p99_ms']:>5.0f} ms"
            f"  {r['db_operations_per_case']:>10.1f}"
            f"  {r['cpu_ms_per_case_all']:>11.1f}"
        )
    print(
        f"  raw aiokafka relay {raw:,.0f} msg/s; peak RSS "
        + ", ".join(f"{k} {v:.0f} MB" for k, v in peak_rss.items())
    )
    if real is not None:
        print(
            f"  real reports ({real['reports']} Traffy texts in turn), one round at "
            f"{real['stored']:,} stored: "
            f"{real['pipeline']['per_second']:.1f} cases/s, {real['cpu_ms_per_case_all']:.1f} ms "
            f"CPU a case, p99 {real['paced']['latency_ms']['p99']:.0f} ms at {args.rate:g}/s "
            f"(the short report's round just before: {real['beside']:.1f} cases/s)"
        )
    print(f"  written to {path.relative_to(REPO)}")
    last_p = last["per_second"]
    print(
        f"bench: pipeline {last_p:.1f}/s, raw {raw:.0f}/s, ratio {last_p / raw:.4f}, "
        f"p99 {last['paced_p99_ms']:.0f} ms, "
        f"max RSS {max(peak_rss.values(), default=0):.0f} MB, flat {flat:.2f}"
    )
    every = [r for rs in rounds.values() for r in rs] + ([real] if real is not None else [])
    complete = all(
        r[run_]["assigned"] == r[run_]["sent"]
        for r in every
        for run_ in ("pipeline", "paced", "steady")
    )
    return 0 if complete else 1


def level_summary(stored: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """A level's figures: the median of its rounds for each (every round is kept beside)."""

    def median(figure: Callable[[dict[str, Any]], float]) -> float:
        return float(statistics.median(figure(r) for r in rounds))

    rates = [r["pipeline"]["per_second"] for r in rounds]
    return {
        "stored": stored,
        "per_second": median(lambda r: r["pipeline"]["per_second"]),
        "per_second_range": [min(rates), max(rates)],
        "intake_p50_ms": median(lambda r: r["pipeline"]["intake_ms"]["p50"]),
        "routing_p50_ms": median(lambda r: r["pipeline"]["routing_ms"]["p50"]),
        "paced_p50_ms": median(lambda r: r["paced"]["latency_ms"]["p50"]),
        "paced_p99_ms": median(lambda r: r["paced"]["latency_ms"]["p99"]),
        "steady_p50_ms": median(lambda r: r["steady"]["latency_ms"]["p50"]),
        "steady_p99_ms": median(lambda r: r["steady"]["latency_ms"]["p99"]),
        "db_operations_per_case": median(lambda r: r["db_operations_per_case"]),
        "cpu_ms_per_case_all": median(lambda r: r["cpu_ms_per_case_all"]),
        "rounds": rounds,
    }


async def drop_database(url: str, database: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        await client.drop_database(database)
    finally:
        await client.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
