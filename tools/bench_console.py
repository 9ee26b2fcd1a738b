"""`python -m tools.bench_console`: how long the officers' console takes to render an
officer's queue with 50,000 stored cases (issue 14: p95 within 100 ms). A measurement, not a
test: it asserts nothing.

It runs on the stack's Kafka and FerretDB (`make up` or `make bench`) with a topic prefix and
a database of its own, so the demo's data is neither counted nor touched: it stores
`--cases` cases in bulk as routing keeps them (tools/bench.py's seeder: years of work, about
5% still open), gives a seventh of them to a real officer of the directory (`--officer`),
starts a routing and a console process of its own, signs in through the console as that
officer (the authorization code flow with PKCE against routing's built-in issuer, as a
browser would), then asks for `/queue` sequentially, `--warmup` times untimed and
`--requests` times over one keep-alive connection. Each time is the client's on loopback:
the console's render and its calls to routing's API, which reads the case index.

Results go to bench-results/console-<time>.json; the last line is
`bench console: queue p50 X ms, p95 Y ms (N stored cases, M in the queue)`.

Measured (2 cores, FerretDB), 50,000 cases, 378 in the queue: p50 26 ms, p95 45 ms, routing
answering the open states from its working set (p95 4.6 s while it scanned `case_index`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from deploy.local import stack
from tools import processes
from tools.accounts import DEMO_PASSWORD
from tools.bench import drop_database, seed
from tools.bench_portal import measure

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0
# The seeder gives its cases to seven made-up officers; one seventh goes to a real one.
SEEDED_OFFICER = "seed-officer-0"


@dataclass
class Process:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.popen = processes.spawn(self.name, self.env, self.log)
        processes.wait_healthy(self.name, self.popen, self.base, self.log, START_TIMEOUT)

    def stop(self) -> None:
        if self.popen is not None:
            processes.stop([self.popen])


async def prepare(url: str, database: str, cases: int, officer: str) -> float:
    """The cases stored, a seventh of them the officer's; the seconds it took."""
    t0 = time.perf_counter()
    await seed(url, database, 0, cases)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    try:
        for collection in ("cases", "case_index"):
            await client[database][collection].update_many(
                {"officer_id": SEEDED_OFFICER}, {"$set": {"officer_id": officer}}
            )
    finally:
        await client.close()
    return time.perf_counter() - t0


def sign_in(client: httpx.Client, console: str, username: str) -> None:
    """The console's sign-in as a browser goes through it: to the issuer's form and back."""
    form_page = client.get(console + "/auth/login", follow_redirects=True)
    fields = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form_page.text)
    )
    fields = {unescape(k): unescape(v) for k, v in fields.items()}
    action = str(form_page.url).split("?")[0]
    done = client.post(
        action,
        data={**fields, "username": username, "password": DEMO_PASSWORD},
        follow_redirects=True,
    )
    if not str(done.url).startswith(console + "/queue"):
        raise RuntimeError(f"sign-in as {username} failed at {done.url}: {done.text[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_console")
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--officer", default="eng-somchai")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", default="local")
    args = parser.parse_args(argv)

    profile = stack.get_profile(args.profile)
    run = f"bc{uuid.uuid4().hex[:8]}"
    database = f"ruam_{run}"
    logs = REPO / ".run" / "bench-console" / run
    seconds = asyncio.run(prepare(profile.mongodb_url, database, args.cases, args.officer))
    print(f"bench console: {args.cases} cases stored in {seconds:.1f} s", flush=True)

    routing_port, console_port = processes.free_port(), processes.free_port()
    console_base = f"http://127.0.0.1:{console_port}"
    common = {
        **os.environ,
        **profile.env(),
        "MONGODB_DATABASE": database,
        "RUAM_TOPIC_PREFIX": f"{run}.",
        "RUAM_OIDC_ISSUER": f"http://127.0.0.1:{routing_port}/oidc",
        "ROUTING_HTTP_PORT": str(routing_port),
        "CONSOLE_HTTP_PORT": str(console_port),
        "CONSOLE_PUBLIC_BASE_URL": console_base,
        "RUAM_CONSOLE_REDIRECT_URIS": f"{console_base}/auth/callback",
        "PYTHONUNBUFFERED": "1",
    }
    started = [
        Process("routing", routing_port, common, logs / "routing.log"),
        Process("console", console_port, common, logs / "console.log"),
    ]
    try:
        for process in started:
            process.start()
        with httpx.Client(timeout=60) as client:
            sign_in(client, console_base, args.officer)
            t0 = time.perf_counter()
            page = client.get(console_base + "/queue")
            first_ms = round((time.perf_counter() - t0) * 1000, 1)
            shown = len(re.findall(r'<tr class="band ', page.text))
            if page.status_code == 200:
                result = measure(client, console_base + "/queue", args.warmup, args.requests)
            else:
                # The console says so in Thai (503: routing did not answer within the
                # console's CONSOLE_UPSTREAM_TIMEOUT_SECONDS); recorded, not raised.
                result = {"failed": page.status_code, "first_ms": first_ms}
    finally:
        for process in reversed(started):
            process.stop()
        asyncio.run(drop_database(profile.mongodb_url, database))
    report = {
        "at": datetime.now(UTC).isoformat(),
        "stored_cases": args.cases,
        "officer": args.officer,
        "queue_rows": shown,
        "queue": result,
    }
    out = REPO / "bench-results" / f"console-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    if "failed" in result:
        print(
            f"bench console: queue failed with {result['failed']} after {first_ms} ms "
            f"({args.cases} stored cases)"
        )
    else:
        print(
            f"bench console: queue p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms "
            f"({args.cases} stored cases, {shown} in the queue)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
