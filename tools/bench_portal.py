"""`python -m tools.bench_portal`: how long the public website takes to render its home page
with a year of cases in it (issue 13: p95 within 50 ms with the demo's 983 cases). A
measurement, not a test: it asserts nothing.

By default it starts a portal process of its own on the stack's Kafka and FerretDB (`make
bench` brings the local stack up), with a topic prefix and a database of its own, so the
demo's data is neither counted nor touched. It publishes, as intake, compliance and survey
would, a fiscal year of public projections: `--cases` cases (983, the demo's count) with
their timelines, deadlines, villages and map points, 12 projects and 600 survey answers.
Once the portal's read model holds them all (its `/metrics`), it asks for `/` sequentially,
`--warmup` times untimed and then `--requests` times over one keep-alive connection, and
reports p50, p95 and the slowest. With `--url` it measures a portal that is already running
instead (the demo's: `--url http://127.0.0.1:8005`), with whatever data that one holds.

Each request's time is the client's, from sending to the last byte, on loopback: the
server's render plus a fraction of a millisecond of HTTP. Results go to
bench-results/portal-<time>.json; the last line is
`bench portal: home p50 X ms, p95 Y ms`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from deploy.local import stack
from shared.events.cases import Channel, Kind, PublicCasePayload, PublicCaseUpdated, PublicStep
from shared.events.compliance import (
    PublicProjectPayload,
    PublicProjectUpdated,
    PublicRequirement,
    Stage,
)
from shared.events.survey import PublicSatisfactionCounted, PublicSatisfactionPayload
from shared.thai import fiscal_year_be, fiscal_year_bounds
from tools import processes

REPO = Path(__file__).resolve().parents[1]
ORG = "sraphonthong"
START_TIMEOUT = 90.0
LOAD_TIMEOUT = 180.0
DIMENSIONS = ("process", "channels", "staff", "facilities", "quality", "overall")
CHANNELS = {"line": 40, "web": 15, "phone": 20, "traffy": 10, "letter": 5, "suggestion_box": 5,
            "meeting": 3, "email": 2}  # fmt: skip
TEXTS = (
    "ไฟฟ้าส่องสว่างดับหลายจุด ถนนมืดมากตอนกลางคืน",
    "ถนนลูกรังเป็นหลุมเป็นบ่อ น้ำขังหลังฝนตก",
    "ท่อระบายน้ำอุดตัน น้ำเน่าส่งกลิ่นเหม็น",
    "น้ำประปาไม่ไหลมาสองวันแล้ว",
    "ขยะไม่ได้รับการจัดเก็บตามกำหนด",
    "สุนัขจรจัดจำนวนมากบริเวณตลาด",
    "กิ่งไม้ใหญ่ยื่นออกมาขวางทางสัญจร",
    "ขอให้ซ่อมสะพานไม้ข้ามลำห้วย",
)


# --------------------------------------------------------------------------- the data


def _routing_categories() -> dict[str, str]:
    """Category code -> department, as routing's directory assigns them."""
    path = REPO / "services/routing/config/orgs/sraphonthong.yaml"
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in loaded["categories"].items() if v != "executive"}


def cases(n: int, now: datetime, rng: random.Random) -> Iterator[PublicCasePayload]:
    """`n` cases received since the start of the fiscal year, most of them closed."""
    categories = _routing_categories()
    codes = sorted(categories)
    start, _ = fiscal_year_bounds(fiscal_year_be(now))
    span = max((now - start).total_seconds(), 86_400.0)
    year = fiscal_year_be(now)
    for i in range(n):
        received = start + timedelta(seconds=rng.uniform(0, span))
        category = rng.choice(codes)
        steps = [("assigned", received + timedelta(minutes=rng.uniform(1, 30)))]
        age_days = (now - received).total_seconds() / 86_400
        progress = rng.random()
        if progress > 0.15 and age_days > 1:
            steps.append(("acknowledged", received + timedelta(hours=rng.uniform(2, 30))))
        if progress > 0.3 and age_days > 2:
            steps.append(("in_progress", received + timedelta(days=rng.uniform(1, 3))))
        if progress > 0.4 and age_days > 4:
            steps.append(("resolved", received + timedelta(days=rng.uniform(3, min(25, age_days)))))
        steps = [(s, min(at, now)) for s, at in steps]
        located = rng.random() < 0.7
        yield PublicCasePayload(
            case_id=f"SPT-{year}-{i + 1:06d}",
            kind=Kind.COMPLAINT,
            channel=Channel(rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0]),
            status=steps[-1][0],
            category=category,
            department=categories[category],
            text=rng.choice(TEXTS) + f" หมู่ที่ {1 + i % 10}",
            village_no=1 + i % 10,
            received_at=received,
            updated_at=steps[-1][1],
            timeline=tuple(PublicStep(status=s, at=at) for s, at in steps),
            acknowledge_due_at=received + timedelta(days=1),
            respond_due_at=received + timedelta(days=15),
            resolution="ดำเนินการแก้ไขเรียบร้อยแล้ว" if steps[-1][0] == "resolved" else None,
            lat=round(15.65 + rng.uniform(-0.05, 0.05), 3) if located else None,
            lon=round(103.6 + rng.uniform(-0.05, 0.05), 3) if located else None,
        )


def projects(n: int, now: datetime, rng: random.Random) -> Iterator[PublicProjectPayload]:
    year = fiscal_year_be(now)
    for i in range(n):
        big = i % 3 == 0
        yield PublicProjectPayload(
            project_id=f"SPT-P{year}-B{i + 1:03d}",
            name=f"โครงการก่อสร้างและปรับปรุงโครงสร้างพื้นฐาน หมู่ที่ {1 + i % 10}",
            fiscal_year=year,
            budget_satang=rng.randrange(25_000_000, 50_000_000) * 100
            if big
            else rng.randrange(50_000, 5_000_000) * 100,
            funding_source="เงินอุดหนุนเฉพาะกิจ" if big else "เงินรายได้ อบต.",
            key_policy=False,
            key_mission=False,
            stage=Stage.APPROVED if big else Stage.PLANNING,
            requires_participation=big,
            requirements=(
                (PublicRequirement(kind="public_hearing", due_stage=Stage.APPROVED, status="open"),)
                if big
                else ()
            ),
            participation=(),
            violations=(),
            revision=1,
            updated_at=now,
        )


def facts(n: int, now: datetime, rng: random.Random) -> Iterator[PublicSatisfactionPayload]:
    departments = sorted(set(_routing_categories().values()))
    for i in range(n):
        yield PublicSatisfactionPayload(
            fact_id=f"bench-{i:06d}",
            source="case",
            fiscal_year=fiscal_year_be(now),
            department=rng.choice(departments),
            scores={
                q: rng.choices((5, 4, 3, 2, 1), weights=(34, 36, 17, 8, 5))[0] for q in DIMENSIONS
            },
        )


async def publish(bootstrap: str, prefix: str, n_cases: int, seed: int) -> dict[str, int]:
    """The projections on the portal's topics under `prefix`, as their owners publish them."""
    from aiokafka import AIOKafkaProducer

    from shared.kafka import client_options

    rng = random.Random(seed)
    now = datetime.now(UTC)
    events: list[Any] = [PublicCaseUpdated(org_id=ORG, payload=c) for c in cases(n_cases, now, rng)]
    events += [PublicProjectUpdated(org_id=ORG, payload=p) for p in projects(12, now, rng)]
    events += [PublicSatisfactionCounted(org_id=ORG, payload=f) for f in facts(600, now, rng)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_options())
    await producer.start()
    try:
        sent = [
            await producer.send(
                prefix + event.topic.value,
                event.to_bytes(),
                key=event.partition_key().encode(),
            )
            for event in events
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return {"cases": n_cases, "projects": 12, "satisfaction": 600}


# --------------------------------------------------------------------------- the portal


def kept(client: httpx.Client, base: str) -> dict[str, int]:
    """What the portal's read model holds, by kind (its /metrics)."""
    text = client.get(base + "/metrics", timeout=10).text
    found = re.findall(r'ruam_portal_read_model_items\{kind="(\w+)"\} ([0-9.e+]+)', text)
    return {kind: int(float(value)) for kind, value in found}


class OwnPortal:
    """A portal process on the profile's Kafka and FerretDB, with its own prefix and
    database; stopped, and its database dropped, at the end."""

    def __init__(self, profile: stack.Profile, logs: Path) -> None:
        run = f"bp{uuid.uuid4().hex[:8]}"
        self.profile = profile
        self.prefix = f"{run}."
        self.database = f"ruam_{run}"
        self.port = processes.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = logs / f"portal-{run}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        admin = self.profile.env()
        env = {
            **os.environ,
            **admin,
            "MONGODB_DATABASE": self.database,
            "RUAM_TOPIC_PREFIX": self.prefix,
            "PORTAL_HTTP_PORT": str(self.port),
            "PORTAL_PUBLIC_BASE_URL": self.base,
            "PYTHONUNBUFFERED": "1",
        }
        self.process = processes.spawn("portal", env, self.log)
        processes.wait_healthy("the portal", self.process, self.base, self.log, START_TIMEOUT)

    def stop(self) -> None:
        if self.process is not None:
            processes.stop([self.process])
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(self.profile.mongodb_url)
        try:
            client.drop_database(self.database)
        finally:
            client.close()


def wait_loaded(client: httpx.Client, base: str, wanted: dict[str, int]) -> dict[str, int]:
    deadline = time.monotonic() + LOAD_TIMEOUT
    while True:
        held = kept(client, base)
        if all(held.get(k, 0) >= n for k, n in wanted.items()):
            return held
        if time.monotonic() > deadline:
            raise RuntimeError(f"the portal holds {held}, not {wanted}")
        time.sleep(0.5)


# --------------------------------------------------------------------------- in process


class _Unused:
    """The ports the pages being timed never call: no database, no other service."""

    async def save_case(self, case: Any) -> bool:
        return True

    async def save_project(self, project: Any) -> bool:
        return True

    async def save_fact(self, fact: Any) -> bool:
        return True

    async def load(self) -> tuple[list[Any], list[Any], list[Any]]:
        return [], [], []

    async def keep(self, photo_id: str, jpeg: bytes) -> str:
        return ""

    async def request(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        from services.portal.ports import Reply

        return Reply(503)


def in_process(args: argparse.Namespace) -> tuple[dict[str, int], dict[str, Any], dict[str, Any]]:
    """The portal's ASGI app in this process, its read model filled directly: the render
    alone, without HTTP or the event loop's other work (and with --cprofile, where it goes)."""
    from services.portal.bootstrap import create_service
    from services.portal.settings import PortalSettings

    # Typed loosely on purpose: the ports grow methods the pages timed here never call.
    unused: Any = _Unused()
    service = create_service(
        PortalSettings(rate_limit_per_second=0, human_check_secret="bench"),
        store=unused,
        photos=unused,
        upstream=unused,
    )
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    model = service.handlers.model
    for case in cases(args.cases, now, rng):
        model.take_case(case)
    for project in projects(12, now, rng):
        model.take_project(project)
    for fact in facts(600, now, rng):
        model.take_fact(fact)
    held = {"cases": len(model.cases), "projects": len(model.projects),
            "satisfaction": len(model.facts)}  # fmt: skip

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        transport = httpx.ASGITransport(app=service.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal") as client:
            profiler = cProfile.Profile() if args.cprofile else None
            if profiler is not None:
                profiler.enable()
            home = await measure_async(client, "/", args.warmup, args.requests)
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.cprofile)
            others = {p: await measure_async(client, p, args.warmup, args.requests)
                      for p in args.also}  # fmt: skip
            # The site remembers its figures until the read model changes; while the demo
            # replays, it changes between most requests. Each of these follows a change.
            changing = list(model.cases.values())

            def change(i: int) -> None:
                case = changing[i % len(changing)]
                later = case.updated_at + timedelta(seconds=1)
                model.take_case(case.model_copy(update={"updated_at": later}))
                changing[i % len(changing)] = model.cases[case.case_id]

            others["/ after each change"] = await measure_async(
                client, "/", args.warmup, args.requests, before=change
            )
        return home, others

    home, others = asyncio.run(run())
    return held, home, others


# --------------------------------------------------------------------------- measuring


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, round(p / 100 * len(sorted_ms) + 0.4999))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


def measure(client: httpx.Client, url: str, warmup: int, n: int) -> dict[str, Any]:
    for _ in range(warmup):
        client.get(url).raise_for_status()
    times: list[float] = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url)
        elapsed = time.perf_counter() - t0
        r.raise_for_status()
        size = len(r.content)
        times.append(elapsed * 1000)
    return figures(times, warmup, size)


async def measure_async(
    client: httpx.AsyncClient,
    url: str,
    warmup: int,
    n: int,
    before: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """As `measure`; `before(i)`, if given, runs untimed before request i."""
    for _ in range(warmup):
        (await client.get(url)).raise_for_status()
    times: list[float] = []
    size = 0
    for i in range(n):
        if before is not None:
            before(i)
        t0 = time.perf_counter()
        r = await client.get(url)
        elapsed = time.perf_counter() - t0
        r.raise_for_status()
        size = len(r.content)
        times.append(elapsed * 1000)
    return figures(times, warmup, size)


def figures(times: list[float], warmup: int, size: int) -> dict[str, Any]:
    n = len(times)
    ordered = sorted(times)
    return {
        "requests": n,
        "warmup": warmup,
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(percentile(ordered, 95), 2),
        "p99_ms": round(percentile(ordered, 99), 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_portal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="local", choices=("local", "test"))
    parser.add_argument("--cases", type=int, default=983, help="cases to publish (983: the demo)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests (>= 200)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--url", help="measure this running portal instead of one of our own")
    parser.add_argument("--seed", type=int, default=2569)
    parser.add_argument(
        "--also", action="append", default=[], metavar="PATH", help="another page to time"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="render in this process, without HTTP"
    )
    parser.add_argument(
        "--cprofile", type=int, default=0, metavar="N", help="in process: the N top functions"
    )
    args = parser.parse_args(argv)
    profile = stack.get_profile(args.profile)
    out_dir = REPO / "bench-results"
    own: OwnPortal | None = None
    try:
        if args.in_process:
            base = "in process"
            held, home, others = in_process(args)
        elif args.url:
            base = args.url.rstrip("/")
        else:
            own = OwnPortal(profile, out_dir / "logs")
            own.start()
            base = own.base
            print(f"bench portal: publishing {args.cases} cases to {own.prefix}*", flush=True)
            wanted = asyncio.run(
                publish(profile.kafka_bootstrap, own.prefix, args.cases, args.seed)
            )
        if not args.in_process:
            with httpx.Client(timeout=30) as client:
                held = wait_loaded(client, base, wanted) if own else kept(client, base)
                home = measure(client, base + "/", args.warmup, args.requests)
                others = {p: measure(client, base + p, args.warmup, args.requests)
                          for p in args.also}  # fmt: skip
    finally:
        if own is not None:
            own.stop()
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "portal": "own process, published projections" if own else base,
        "requests": "sequential, one keep-alive connection" if base != "in process" else "ASGI",
        "read_model": held,
        "cpu_count": os.cpu_count(),
        # The machine is shared: a busy one (load above its cores) stretches the tail.
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "home": home,
        "pages": others,
    }
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"portal-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"bench portal: {held.get('cases', 0)} cases held; results in {path.relative_to(REPO)}")
    for page, timed in others.items():
        print(f"bench portal: {page} p50 {timed['p50_ms']:.1f} ms, p95 {timed['p95_ms']:.1f} ms")
    print(f"bench portal: home p50 {home['p50_ms']:.1f} ms, p95 {home['p95_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
