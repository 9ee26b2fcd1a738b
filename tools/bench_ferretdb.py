"""`python -m tools.bench_ferretdb`: how FerretDB's writes hold up when several writers
meet on one database, as the services' bulk writers do under load. A measurement, not a
test: it asserts nothing.

`--writers` tasks (2, 8 and 16 by default) each insert batches of 4 documents of about
1 KB into one of four collections, for `--seconds` each, on a database of its own on the
running stack's FerretDB (`make bench` brings the local stack up). Reported per level:
documents written per second, FerretDB's CPU per document (from /proc, so the figure is its
own, whatever else runs), and p50/p99 of one insert request.

`--binary PATH` starts that FerretDB build instead, on a port and data directory of its own
(for instance an unpatched one, to see what deploy/local/ferretdb-sqlite-write-lock.patch
changes; docs/storage.md has such a comparison). Results go to
bench-results/ferretdb-<time>.json; the last line is
`bench ferretdb: 2 writers N docs/s, 8 writers N docs/s, 16 writers N docs/s`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.local import stack
from shared.mongo import create_client
from tools import processes
from tools.bench import summary

REPO = Path(__file__).resolve().parents[1]
BATCH = 4
TEXT = "ถนนชำรุดเป็นหลุมลึก หน้าบ้านเลขที่ 12 หมู่ที่ 4 " * 6


def cpu_seconds(pid: int) -> float:
    used = processes.cpu_seconds(pid)
    if used is None:
        raise RuntimeError(f"FerretDB (pid {pid}) is gone")
    return used


async def level(url: str, pid: int, writers: int, seconds: float) -> dict[str, Any]:
    client = create_client(url, app_name="bench-ferretdb", max_pool_size=writers + 2)
    database = f"ruam_bench_writes_{uuid.uuid4().hex[:8]}"
    db = client[database]
    latencies: list[float] = []
    written = 0
    try:
        for c in range(4):  # the collections exist before the clock starts
            await db[f"c{c}"].insert_one({"_id": "first"})

        async def writer(w: int, stop: float) -> None:
            nonlocal written
            coll = db[f"c{w % 4}"]
            i = 0
            while time.monotonic() < stop:
                docs = [{"_id": f"{w}-{i}-{k}", "text": TEXT, "n": k} for k in range(BATCH)]
                start = time.perf_counter()
                await coll.insert_many(docs)
                latencies.append((time.perf_counter() - start) * 1000)
                written += BATCH
                i += 1

        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.gather(*(writer(w, t0 + seconds) for w in range(writers)))
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    finally:
        await client.drop_database(database)
        await client.close()
    return {
        "writers": writers,
        "docs": written,
        "docs_per_second": round(written / elapsed, 1),
        "ferretdb_cpu_ms_per_doc": round(cpu * 1000 / max(written, 1), 4),
        "request_ms": {k: round(v, 2) for k, v in summary(latencies).items()},
    }


def _answers(port: int) -> bool:
    try:
        return stack.mongo_ping(port)
    except OSError:
        return False


@contextlib.contextmanager
def own_ferretdb(binary: str) -> Iterator[tuple[str, int]]:
    """That build on a port and data directory of its own, as the stack runs FerretDB."""
    port = processes.free_port()
    with tempfile.TemporaryDirectory(prefix="ruam-bench-ferretdb-") as tmp:
        (Path(tmp) / "data").mkdir()
        (Path(tmp) / "state").mkdir()
        argv, env = stack.ferretdb_command(binary, f"{tmp}/data", f"{tmp}/state", port)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not _answers(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{binary} did not start on port {port}")
                time.sleep(0.1)
            yield f"mongodb://127.0.0.1:{port}/", proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def run(url: str, pid: int, writers: list[int], seconds: float) -> list[dict[str, Any]]:
    results = []
    for n in writers:
        r = await level(url, pid, n, seconds)
        print(
            f"bench ferretdb: {n:>2} writers {r['docs_per_second']:>8.0f} docs/s, "
            f"{r['ferretdb_cpu_ms_per_doc']:.3f} ms CPU/doc, request p50 "
            f"{r['request_ms']['p50']:.1f} ms, p99 {r['request_ms']['p99']:.1f} ms",
            flush=True,
        )
        results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_ferretdb")
    parser.add_argument("--writers", default="2,8,16", help="concurrent writers per level")
    parser.add_argument("--seconds", type=float, default=8.0, help="per level")
    parser.add_argument("--binary", help="a FerretDB build to start instead of the stack's")
    parser.add_argument("--profile", default="local")
    args = parser.parse_args(argv)
    writers = [int(x) for x in args.writers.split(",")]
    if args.binary:
        with own_ferretdb(args.binary) as (url, pid):
            results = asyncio.run(run(url, pid, writers, args.seconds))
        server = args.binary
    else:
        profile = stack.get_profile(args.profile)
        running = stack.tracked_pid(profile, "ferretdb")
        if running is None:
            raise SystemExit(f"no FerretDB running in profile {profile.name}: make up")
        results = asyncio.run(run(profile.mongodb_url, running, writers, args.seconds))
        server = str(stack.ferretdb_bin())
    out = REPO / "bench-results" / f"ferretdb-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"server": server, "levels": results}, indent=2))
    print(f"  written to {out.relative_to(REPO)}")
    print(
        "bench ferretdb: "
        + ", ".join(f"{r['writers']} writers {r['docs_per_second']:.0f} docs/s" for r in results)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
