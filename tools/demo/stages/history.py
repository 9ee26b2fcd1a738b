"""Demo stage 5 (measure 3): a history with patterns in it, and the analysis that finds them.

`plant(today)` is the history, deterministic for a given day (Bangkok): three patterns
an owner of the work should see, among a few ordinary reports.
- a pothole reported 8 times at one spot (one ~100 m cell) over 6 weeks;
- a drainage wave after the rain: 12 reports within 12 days of last month, against one
  a month before;
- a category with a 40 % reopen rate: 10 street-light cases over seven weeks (not a
  wave), all resolved, 4 of them reopened.

The texts are ones routing's classifier puts in the planted category (a drainage text
that speaks of flooding would go to `flooding`). `run` sends them through the running
stack as telephone records dated in the past (intake accepts a call time up to five
years back), takes each case through routing's officer actions (acknowledge, resolve
with a root cause, reopen, resolve again), then reads insight's analysis and says what
it found. The unit tests build the same history as raw events
(tests/insight/builders.py) and recompute the numbers from them independently; the e2e
test runs this stage on real processes (tests/insight/e2e/).
"""

from __future__ import annotations

import asyncio
import hashlib
import time as time_
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from shared.thai import BANGKOK, fiscal_year_be
from tools.demo.context import DemoContext

POTHOLE_AT = (15.7012, 103.3482)  # one ~100 m cell: every report lies within ±20 m of it
POTHOLE_DAYS_AGO = (42, 37, 31, 26, 20, 14, 8, 3)
WAVE_REPORTS = 12
REOPEN_CASES, REOPENED = 10, 4
READER = "palad"
CONCURRENCY = 4


@dataclass(frozen=True)
class Planted:
    key: str  # the call id: a second run of the stage is the same cases
    pattern: str  # pothole | drainage_wave | drainage_before | reopen
    category: str
    department: str
    text: str
    received_at: datetime
    lat: float
    lon: float
    village_no: int
    resolve_after_days: int | None = None
    cause: str | None = None
    reopen: bool = False


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BANGKOK).astimezone(UTC)


def _jitter(key: str) -> tuple[float, float]:
    n = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return ((n % 5) - 2) * 0.0001, ((n // 5 % 5) - 2) * 0.0001


def wave_month(today: date) -> date:
    """The first day of last month: the month the rain came."""
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def plant(today: date) -> list[Planted]:
    out: list[Planted] = []
    for n, ago in enumerate(POTHOLE_DAYS_AGO, 1):
        key = f"hist-pothole-{n}"
        dlat, dlon = _jitter(key)
        out.append(
            Planted(
                key, "pothole", "road", "engineering",
                f"ถนนเป็นหลุมเป็นบ่อลึก หน้าศาลาประชาคม หมู่ 4 รถจักรยานยนต์ล้ม (ครั้งที่ {n})",
                _at(today - timedelta(days=ago)), POTHOLE_AT[0] + dlat, POTHOLE_AT[1] + dlon, 4,
                resolve_after_days=2 if n % 3 == 0 else None, cause="worn_surface",
            )
        )  # fmt: skip
    month = wave_month(today)
    for n in range(WAVE_REPORTS):
        key = f"hist-drain-{n + 1}"
        village = n % 8 + 1
        out.append(
            Planted(
                key, "drainage_wave", "drainage", "engineering",
                f"ท่อระบายน้ำอุดตันหลังฝนตกหนัก ขอให้ลอกท่อระบายน้ำ หมู่ {village}",
                _at(month + timedelta(days=1 + n), 8 + n % 8),
                15.69 + 0.004 * village, 103.33 + 0.003 * n, village,
                resolve_after_days=3 + n % 4, cause="blocked_drain",
            )
        )  # fmt: skip
    for n in range(3):
        before = (month - timedelta(days=28 * (n + 1))).replace(day=10)
        out.append(
            Planted(
                f"hist-drain-before-{n + 1}", "drainage_before", "drainage", "engineering",
                f"ท่อระบายน้ำอุดตัน มีกลิ่นเหม็น หมู่ {n + 2}",
                _at(before), 15.70 + 0.01 * n, 103.36, n + 2, resolve_after_days=4,
                cause="blocked_drain",
            )
        )  # fmt: skip
    for n in range(REOPEN_CASES):
        village = n % 8 + 1
        out.append(
            Planted(
                f"hist-light-{n + 1}", "reopen", "lighting", "engineering",
                f"ไฟฟ้าส่องสว่างสาธารณะดับ เสาไฟริมถนนสายหลัก หมู่ {village}",
                _at(today - timedelta(days=58 - 5 * n)),
                15.68 + 0.005 * n, 103.30 + 0.004 * n, village,
                resolve_after_days=3, cause="lamp_failure", reopen=n < REOPENED,
            )
        )  # fmt: skip
    return out


def expected(today: date) -> dict[str, Any]:
    """What the analysis must find in the planted history (the stage's own claim; the
    tests recompute these from the raw events rather than trusting it)."""
    return {
        "pothole_reports": len(POTHOLE_DAYS_AGO),
        "pothole_days": max(POTHOLE_DAYS_AGO) - min(POTHOLE_DAYS_AGO),
        "wave_month": wave_month(today).strftime("%Y-%m"),
        "wave_reports": WAVE_REPORTS,
        "reopen_percent": 100.0 * REOPENED / REOPEN_CASES,
    }


# ------------------------------------------------------------------ through the stack


T = TypeVar("T")


async def _poll(probe: Callable[[], Awaitable[T]], timeout: float) -> T | None:
    """probe() until it gives something truthy, or None after `timeout` seconds."""
    deadline = time_.monotonic() + timeout
    while time_.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.5)
    return None


async def _send(ctx: DemoContext, p: Planted) -> str | None:
    body = {
        "call_id": p.key,
        "caller_number": "0800000000",
        "officer_id": "desk",
        "summary": p.text,
        "call_time": p.received_at.isoformat(),
        "location": {"lat": p.lat, "lon": p.lon},
    }
    r = await ctx.client.post(
        ctx.url("intake", "/v1/channels/phone"), json=body, headers=await ctx.as_("desk")
    )
    return str(r.json()["case_id"]) if r.status_code == 202 else None


async def _act(ctx: DemoContext, case_id: str, p: Planted) -> str:
    async def case() -> dict[str, Any] | None:
        r = await ctx.client.get(
            ctx.url("routing", f"/v1/cases/{case_id}"), headers=await ctx.as_(READER)
        )
        found = r.json() if r.status_code == 200 else None
        return found if found and (found.get("officer") or {}).get("id") else None

    found = await _poll(case, 60.0)
    if found is None:
        return "unassigned"
    officer = found["officer"]["id"]
    steps: list[dict[str, Any]] = [{"action": "acknowledge"}]
    if p.resolve_after_days is not None:
        steps.append({"action": "resolve", "resolution": "ซ่อมแซมแล้ว", "cause": p.cause})
        if p.reopen:
            steps += [
                {"action": "reopen", "note": "ตรวจพบว่ายังไม่หาย"},
                {"action": "resolve", "resolution": "เปลี่ยนอุปกรณ์ใหม่", "cause": p.cause},
            ]
    for n, step in enumerate(steps):
        body = {**step, "officer_id": officer, "command_id": f"demo-history-{p.key}-{n}"}
        r = await ctx.client.post(
            ctx.url("routing", f"/v1/cases/{case_id}/actions"),
            json=body,
            headers=await ctx.as_(officer),
        )
        if r.status_code not in (200, 409):
            return f"refused {r.status_code}"
    return "done"


async def run(ctx: DemoContext) -> None:
    ctx.heading("History: patterns an owner of the work should see (measure 3)")
    today = datetime.now(BANGKOK).date()
    planted = plant(today)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(p: Planted) -> str:
        async with gate:
            case_id = await _send(ctx, p)
            return "refused" if case_id is None else await _act(ctx, case_id, p)

    outcomes = await asyncio.gather(*(one(p) for p in planted))
    counted = Counter(outcomes)
    ctx.line(
        f"  planted {len(planted)} reports: "
        + ", ".join(f"{what} {n}" for what, n in sorted(counted.items()))
    )
    want = expected(today)
    headers = await ctx.as_(READER)
    if "insight" not in ctx.urls:
        ctx.line("  insight is not running: nothing to analyse")
        return

    async def pothole() -> list[dict[str, Any]]:
        r = await ctx.client.get(ctx.url("insight", "/v1/insight/hotspots"), headers=headers)
        spots = r.json().get("hotspots", []) if r.status_code == 200 else []
        return [
            h for h in spots if h["category"] == "road" and h["reports"] >= want["pothole_reports"]
        ]

    found = await _poll(pothole, 120.0)
    if not found:
        ctx.line("  hotspot: not found within 120 s (is insight consuming?)")
        return
    top = found[0]
    ctx.line(f"  hotspot: road at {top['lat']}, {top['lon']}: {top['reports']} reports")
    fy = fiscal_year_be(wave_month(today))
    r = await ctx.client.get(
        ctx.url("insight", f"/v1/insight/seasonality?fy={fy}"), headers=headers
    )
    waves = [w for w in r.json().get("waves", []) if w["category"] == "drainage"]
    ctx.line(f"  waves: {waves or 'none found'}")

    async def lighting() -> dict[str, Any] | None:
        # Each topic is its own stream: the reopenings may come before or after the
        # resolutions, so wait for all of both.
        r = await ctx.client.get(
            ctx.url("insight", "/v1/insight/figures?dim=category"), headers=headers
        )
        found = [s for s in r.json().get("slices", []) if s["value"] == "lighting"]
        ready = found and found[0]["reopened"] >= REOPENED and found[0]["resolved"] >= REOPEN_CASES
        return found[0] if ready else None

    lights = await _poll(lighting, 60.0)
    if lights:
        rate, planted_rate = lights["percent_reopened"], want["reopen_percent"]
        ctx.line(f"  street lights reopened: {rate} % (planted: {planted_rate} %)")
    ctx.results["history"] = {"planted": len(planted), "expected": want}
