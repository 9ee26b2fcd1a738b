"""`make bench`: throughput, latency and memory of the pipeline on the local stack.

Measures, in one run:
  (a) raw: an aiokafka producer -> consumer relay on the same broker, same message size;
  (b) pipeline: N submissions published to intake.raw until all are assigned cases
      (intake normalizes and stores, routing consumes, decides, stores, announces);
  (c) latency: submissions offered at a fixed rate, time from publish to case.assigned;
  (d) peak RSS (VmHWM) of each service process of the stack.
Writes bench-results/bench-<timestamp>.json and ends with a one-line verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.local import stack
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.topics import Topic

REPO = Path(__file__).resolve().parents[1]
TEXT = "ถนนชำรุดเป็นหลุมลึก หน้าบ้านเลขที่ 12 หมู่ที่ 4 รถจักรยานยนต์ล้มบ่อย ขอให้ซ่อมด่วน"


def raw_submission(run: str, n: int) -> bytes:
    body = json.dumps(
        {
            "channel": "web",
            "kind": "complaint",
            "text": TEXT,
            "channel_message_id": f"bench-{run}-{n}",
        },
        ensure_ascii=False,
    )
    event = RawPayloadReceived(
        org_id="sraphonthong",
        payload=RawPayloadReceivedPayload(
            channel="web",
            received_at=datetime.now(UTC),
            body=body,
            channel_message_id=f"bench-{run}-{n}",
        ),
    )
    return event.model_dump_json().encode()


async def raw_relay(bootstrap: str, count: int, size: int) -> float:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
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


class AssignedWatcher:
    """Follows case.received (message id -> case id) and case.assigned (case id -> time)."""

    def __init__(self, bootstrap: str, run: str) -> None:
        self.run = run
        self.case_of: dict[str, str] = {}
        self.assigned_at: dict[str, float] = {}
        self.consumer = AIOKafkaConsumer(
            Topic.CASE_RECEIVED.value,
            Topic.CASE_ASSIGNED.value,
            bootstrap_servers=bootstrap,
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
                if mid.startswith(f"bench-{self.run}-"):
                    self.case_of[mid] = payload["case_id"]
            elif event["type"] == "CaseAssigned":
                self.assigned_at.setdefault(payload["case_id"], now)

    def done(self, mids: list[str]) -> int:
        return sum(1 for m in mids if self.case_of.get(m) in self.assigned_at)

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        await self.consumer.stop()


async def pipeline(bootstrap: str, count: int, rate: float | None, run: str) -> dict[str, Any]:
    watcher = AssignedWatcher(bootstrap, run)
    await watcher.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    sent_at: dict[str, float] = {}
    mids = [f"bench-{run}-{n}" for n in range(count)]
    try:
        start = time.perf_counter()
        for n, mid in enumerate(mids):
            if rate:
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at[mid] = time.perf_counter()
            await producer.send(Topic.INTAKE_RAW.value, raw_submission(run, n), key=mid.encode())
        await producer.flush()
        deadline = time.perf_counter() + max(120.0, count / 5)
        while watcher.done(mids) < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        done = watcher.done(mids)
        latencies = sorted(
            (watcher.assigned_at[watcher.case_of[m]] - sent_at[m]) * 1000
            for m in mids
            if watcher.case_of.get(m) in watcher.assigned_at
        )
    finally:
        await producer.stop()
        await watcher.stop()
    return {
        "sent": count,
        "assigned": done,
        "seconds": elapsed,
        "per_second": done / elapsed,
        "latencies_ms": latencies,
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def peak_rss_mb(profile: stack.Profile) -> dict[str, float]:
    out = {}
    for name in ("intake", "routing", "survey", "compliance"):
        pid = stack.tracked_pid(profile, name)
        if pid is None:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out[name] = int(line.split()[1]) / 1024
    return out


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("-n", "--count", type=int, default=500, help="submissions for throughput")
    parser.add_argument("--rate", type=float, default=4.0, help="offered rate for latency (msg/s)")
    parser.add_argument("--latency-count", type=int, default=120)
    parser.add_argument("--profile", default="local")
    args = parser.parse_args(argv)
    profile = stack.get_profile(args.profile)
    bootstrap = profile.kafka_bootstrap
    run = uuid.uuid4().hex[:8]
    size = len(raw_submission(run, 0))

    print(f"bench: raw relay of {args.count} x {size} B ...", flush=True)
    raw = await raw_relay(bootstrap, args.count, size)
    print(f"bench: pipeline, {args.count} submissions as fast as they go ...", flush=True)
    burst = await pipeline(bootstrap, args.count, None, run + "a")
    print(f"bench: latency at {args.rate:g} msg/s x {args.latency_count} ...", flush=True)
    paced = await pipeline(bootstrap, args.latency_count, args.rate, run + "b")
    lat = paced["latencies_ms"]
    rss = peak_rss_mb(profile)
    result = {
        "at": datetime.now(UTC).isoformat(),
        "message_bytes": size,
        "raw_per_second": raw,
        "pipeline": {k: v for k, v in burst.items() if k != "latencies_ms"},
        "ratio": burst["per_second"] / raw if raw else None,
        "latency": {
            "offered_rate": args.rate,
            "count": len(lat),
            "assigned": paced["assigned"],
            "p50_ms": pct(lat, 50),
            "p95_ms": pct(lat, 95),
            "p99_ms": pct(lat, 99),
        },
        "peak_rss_mb": rss,
    }
    out_dir = REPO / "bench-results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2))

    rows = [
        ("raw aiokafka relay", f"{raw:,.0f} msg/s"),
        (
            "pipeline intake.raw -> assigned",
            f"{burst['per_second']:,.1f} msg/s "
            f"({burst['assigned']}/{burst['sent']} in {burst['seconds']:.1f} s)",
        ),
        ("ratio pipeline/raw", f"{result['ratio']:.4f}"),
        (
            f"latency @ {args.rate:g}/s p50/p95/p99",
            f"{pct(lat, 50):.0f} / {pct(lat, 95):.0f} / {pct(lat, 99):.0f} ms",
        ),
    ] + [(f"peak RSS {name}", f"{mb:.0f} MB") for name, mb in rss.items()]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    print(f"  written to {out.relative_to(REPO)}")
    print(
        f"bench: pipeline {burst['per_second']:.1f}/s, raw {raw:.0f}/s, "
        f"ratio {result['ratio']:.4f}, p99 {pct(lat, 99):.0f} ms, "
        f"max RSS {max(rss.values(), default=0):.0f} MB"
    )
    return 0 if burst["assigned"] == burst["sent"] and paced["assigned"] == paced["sent"] else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
