"""`make demo`: replay a day of citizen reports through the running stack.

The stack is already up (`make demo` depends on `make up`). Each stage lives in
tools/demo/stages/ and shows one measure of the announcement at work; this module
loads the data, runs the stages in order and prints the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from deploy.local import stack
from tools.demo import traffy
from tools.demo.context import DemoContext, Report, RetryAfterTransport

STAGES = ("intake", "routing", "survey", "compliance", "history")
# The services the stages call (a stage may be named after one, or not: history).
SERVICES = ("intake", "routing", "survey", "compliance", "insight")


def _load(data: str | None) -> tuple[list[Report], Path | None]:
    if data:
        path = Path(data)
        if not path.exists():
            sys.exit(f"demo: no such file: {path}")
        return traffy.load(path), path
    path = traffy.default_path()
    if path.exists():
        return traffy.load(path), path
    print(f"demo: {path} not found; using the project's own small sample", flush=True)
    return traffy.sample(), None


async def _check_health(ctx: DemoContext) -> None:
    for name, base in ctx.urls.items():
        r = await ctx.client.get(base + "/healthz")
        if r.status_code != 200:
            sys.exit(f"demo: {name} is not healthy ({r.status_code}: {r.text}); try `make logs`")


async def _portal(ctx: DemoContext, base: str) -> None:
    """The public website shows what the demo put in: wait until its read model (from
    public.cases) holds the cases, then say where it is."""
    ctx.heading("Public website (portal)")
    wanted = len(set(ctx.results.get("intake", {}).get("accepted", {}).values()))

    async def probe() -> tuple[int, int]:
        try:
            r = await ctx.client.get(base + "/cases.json")
        except httpx.HTTPError:
            return 0, wanted
        shown = int(r.json().get("count", 0)) if r.status_code == 200 else 0
        return min(shown, wanted), wanted

    if wanted:
        await ctx.wait_for(probe, "cases on the public website", timeout=120.0)
    ctx.line(f"  the public website: {base}/")
    ctx.line(f"  track a case:       {base}/track   ·   all cases: {base}/cases")
    ctx.line(f"  statistics:         {base}/stats   ·   projects:  {base}/projects")
    ctx.line(f"  quarterly analysis: {base}/ita/insight (measure 3: HTML and PDF)")


def _summary(ctx: DemoContext) -> None:
    ctx.heading("Summary")
    intake = ctx.results.get("intake", {})
    routing = ctx.results.get("routing", {})
    refused = intake.get("refused", [])
    ctx.line(f"  source: {ctx.data_path or 'built-in sample'}")
    ctx.line(f"  reports sent:     {intake.get('sent', 0)}")
    ctx.line(f"  reports refused:  {len(refused)}")
    for reason, n in Counter(r for _, r in refused).most_common():
        ctx.line(f"      {n:>4} × {reason}")
    ctx.line(f"  cases received:   {len(set(intake.get('accepted', {}).values()))}")
    ctx.line(f"  cases assigned:   {routing.get('assigned', 0)}")
    by_channel: Counter[str] = intake.get("by_channel", Counter())
    if by_channel:
        ctx.line(
            "  by channel:       " + ", ".join(f"{c} {n}" for c, n in by_channel.most_common())
        )
    by_owner: Counter[str] = routing.get("by_officer", Counter())
    if by_owner:
        ctx.line("  by owner:")
        ctx.table([(o, n) for o, n in by_owner.most_common()], ("owner", "cases"))
    history = ctx.results.get("history")
    if history:
        want = history["expected"]
        ctx.line(
            f"  history planted:  {history['planted']} reports (a pothole {want['pothole_reports']}"
            f" times, a drainage wave in {want['wave_month']}, street lights reopened"
            f" {want['reopen_percent']:.0f} %)"
        )
        ctx.line(f"  analysis:         {ctx.url('insight', '/v1/insight/hotspots')} (staff)")
    ctx.line(f"  elapsed:          {time.monotonic() - ctx.started:.1f} s")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo")
    parser.add_argument("--data", help="a CSV shaped like the Traffy Fondue export")
    parser.add_argument("--profile", default="local")
    parser.add_argument("--stages", default=",".join(STAGES))
    args = parser.parse_args(argv)

    profile = stack.get_profile(args.profile)
    reports, path = _load(args.data)
    urls = {name: f"http://127.0.0.1:{profile.port_of(name)}" for name in SERVICES}
    timeout = httpx.Timeout(30.0, connect=5.0)
    async with httpx.AsyncClient(timeout=timeout, transport=RetryAfterTransport()) as client:
        ctx = DemoContext(urls=urls, client=client, reports=reports, data_path=path)
        await _check_health(ctx)
        print(f"Ruam demo: {len(reports)} reports from {path or 'the built-in sample'}", flush=True)
        for name in args.stages.split(","):
            module = importlib.import_module(f"tools.demo.stages.{name}")
            await module.run(ctx)
        _summary(ctx)
        # Last, so it is what the demo ends with.
        await _portal(ctx, f"http://127.0.0.1:{profile.port_of('portal')}")
        # The officers' console (tools/demo/console.py): its address and the demo sign-ins.
        from tools.demo.console import print_sign_ins

        print_sign_ins(ctx, f"http://127.0.0.1:{profile.port_of('console')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
