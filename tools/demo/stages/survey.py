"""Demo stage 3 (measure 4): resolve part of the cases, answer their surveys, act on results.

A deterministic ~15 % of the accepted cases (chosen by hashing the case id) are
resolved through routing's officer actions; each then gets a survey, answered with
scores drawn per case id (driven by the citizen's Traffy star rating where there is
one), some saying the problem was not really fixed. A second run finds the surveys
answered (409) and changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from shared.thai import fiscal_year_be
from shared.topics import Topic
from tools.demo.context import DemoContext
from tools.kafka_read import read_to_end

SHARE_PERCENT = 15
READER = "palad"  # the ปลัด reads every case and survey status (docs/auth.md)
CONCURRENCY = 8
DIMENSIONS = ("process", "channels", "staff", "facilities", "quality")
RESOLUTIONS = (
    "ลงพื้นที่ตรวจสอบและดำเนินการแก้ไขเรียบร้อยแล้ว",
    "ประสานหน่วยงานที่เกี่ยวข้องและซ่อมแซมแล้วเสร็จ",
    "จัดเจ้าหน้าที่เข้าแก้ไขปัญหาและแจ้งผู้ร้องทราบแล้ว",
)
COMMENTS = (
    "เจ้าหน้าที่บริการดี รวดเร็ว",
    "ขอให้ติดตามผลอย่างต่อเนื่อง",
    "รอนานกว่าที่คาดไว้",
    "ขอบคุณที่แก้ไขให้ครับ",
    "",
)


def _digest(case_id: str) -> int:
    return int(hashlib.sha256(case_id.encode("utf-8")).hexdigest()[:12], 16)


def chosen(case_id: str) -> bool:
    return _digest(case_id) % 100 < SHARE_PERCENT


def answers_for(case_id: str, star: str) -> dict[str, Any]:
    """Scores that look like a real month: mostly satisfied, a tail of unhappy citizens."""
    rng = random.Random(_digest(case_id))
    if star.strip().isdigit() and 1 <= int(star) <= 5:
        base = int(star)
    else:
        base = rng.choices((5, 4, 3, 2, 1), weights=(34, 36, 17, 8, 5))[0]
    body: dict[str, Any] = {
        q: max(1, min(5, base + rng.choice((-1, 0, 0, 0, 1)))) for q in DIMENSIONS
    }
    if base <= 2:
        body["fixed"] = rng.choices(("no", "dont_know", "yes"), weights=(60, 20, 20))[0]
    else:
        body["fixed"] = rng.choices(("yes", "no", "dont_know"), weights=(86, 6, 8))[0]
    if comment := rng.choice(COMMENTS):
        body["comment"] = comment
    return body


async def _resolve(ctx: DemoContext, case_id: str) -> str:
    """Take a case through acknowledge -> start -> resolve; what happened, in a word."""
    r = await ctx.client.get(
        ctx.url("routing", f"/v1/cases/{case_id}"), headers=await ctx.as_(READER)
    )
    if r.status_code != 200:
        return "missing"
    case = r.json()
    if case["status"] in ("resolved", "closed", "reopened"):
        return "already"
    officer = (case.get("officer") or {}).get("id")
    if officer is None:
        return "unassigned"
    steps: list[dict[str, Any]] = [
        {"action": "acknowledge"},
        {"action": "start"},
        {"action": "resolve", "resolution": RESOLUTIONS[_digest(case_id) % len(RESOLUTIONS)]},
    ]
    for step in steps:
        body = {
            **step,
            "officer_id": officer,
            "command_id": f"demo-survey-{step['action']}-{case_id}",
        }
        r = await ctx.client.post(
            ctx.url("routing", f"/v1/cases/{case_id}/actions"),
            json=body,
            headers=await ctx.as_(officer),  # the case's own officer takes each step
        )
        if r.status_code not in (200, 409):  # 409: that step was taken before
            return f"refused {r.status_code}"
    return "resolved"


async def _survey_of(ctx: DemoContext, case_id: str) -> dict[str, Any] | None:
    """Whether a case was surveyed (as the ปลัด sees it: no token)."""
    r = await ctx.client.get(
        ctx.url("survey", "/v1/surveys"), params={"case_id": case_id}, headers=await ctx.as_(READER)
    )
    items = r.json().get("items", []) if r.status_code == 200 else []
    return items[0] if items else None


async def _invitations() -> dict[str, str]:
    """Case id -> survey token, from the invitations on `survey.requested`: the token reaches
    the citizen only there (the LINE or SMS adapter delivers it), never through an API."""
    from deploy.local import stack

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or stack.get_profile().kafka_bootstrap
    topic = os.environ.get("RUAM_TOPIC_PREFIX", "") + Topic.SURVEY_REQUESTED.value
    records = (await read_to_end(bootstrap, [topic])).get(topic, [])
    tokens = {}
    for record in records:
        payload = json.loads(record.value)["payload"]
        tokens[payload["case_id"]] = payload["token"]
    return tokens


async def run(ctx: DemoContext) -> None:
    ctx.heading("Survey: asking after resolved cases, and acting on the answers")
    accepted: dict[str, str] = ctx.results.get("intake", {}).get("accepted", {})
    if not accepted:
        ctx.line("  no accepted cases from the intake stage: nothing to survey")
        return
    stars = {r.ticket_id: r.star for r in ctx.reports}
    picked = sorted(
        {
            case_id: stars.get(ticket, "")
            for ticket, case_id in accepted.items()
            if chosen(case_id)
        }.items()
    )
    ctx.line(
        f"  cases chosen to resolve: {len(picked)} of {len(set(accepted.values()))}"
        f" ({SHARE_PERCENT} % by case-id hash)"
    )
    gate = asyncio.Semaphore(CONCURRENCY)

    async def resolve(case_id: str) -> str:
        async with gate:
            if await _survey_of(ctx, case_id) is not None:
                return "already"  # surveyed in an earlier run: never resolve again
            return await _resolve(ctx, case_id)

    resolved = await asyncio.gather(*(resolve(c) for c, _ in picked))
    outcomes = Counter(resolved)
    # Only cases routing resolved (now or in an earlier run) will be asked.
    expecting = [
        (c, s)
        for (c, s), how in zip(picked, resolved, strict=True)
        if how in ("resolved", "already")
    ]
    ctx.line(
        "  resolution through routing: "
        + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items()))
    )

    tokens: dict[str, str] = {}

    async def asked() -> tuple[int, int]:
        tokens.update(await _invitations())
        return sum(c in tokens for c, _ in expecting), len(expecting)

    await ctx.wait_for(asked, "survey invitations sent", timeout=120.0)

    results: Counter[str] = Counter()
    fixed: Counter[str] = Counter()

    async def answer(case_id: str, star: str) -> None:
        token = tokens.get(case_id)
        if token is None:
            results["no survey"] += 1
            return
        body = answers_for(case_id, star)
        async with gate:
            r = await ctx.client.post(
                ctx.url("survey", f"/v1/surveys/{token}/responses"),
                json={"answers": body},
            )
        if r.status_code == 201:
            results["answered"] += 1
            fixed[body["fixed"]] += 1
        elif r.status_code == 409:
            results["already answered"] += 1
        else:
            results[f"refused {r.status_code}"] += 1

    await asyncio.gather(*(answer(c, s) for c, s in expecting))
    ctx.line(
        "  responses: "
        + ", ".join(f"{k} {n}" for k, n in sorted(results.items()))
        + (
            f"   (new 'not fixed': {fixed['no']}, a reopen command sent to routing for each)"
            if fixed["no"]
            else ""
        )
    )

    fy = fiscal_year_be(datetime.now(UTC))
    expected = results["answered"] + results["already answered"]

    async def counted() -> tuple[int, int]:
        # Each response updates six slices in turn: wait until both figures printed
        # below (the total and the departments) have counted every one.
        r = await ctx.client.get(
            ctx.url("survey", "/v1/satisfaction"),
            params={"fiscal_year": str(fy), "by": "department"},
        )
        if r.status_code != 200:
            return 0, expected
        body = r.json()
        done = min(body["total"]["responses"], sum(i["responses"] for i in body["items"]))
        return min(done, expected), expected

    await ctx.wait_for(counted, "responses aggregated", timeout=120.0)
    await _print_figures(ctx, fy)
    ctx.results["survey"] = {"resolved": outcomes, "responses": results, "fiscal_year": fy}


async def _print_figures(ctx: DemoContext, fy: int) -> None:
    r = await ctx.client.get(
        ctx.url("survey", "/v1/satisfaction"), params={"fiscal_year": str(fy), "by": "department"}
    )
    body = r.json()
    total = body["total"]
    ctx.line(
        f"\n  Satisfaction, fiscal year {fy} (B.E.): {total['responses']} responses,"
        f" mean {_f(total['overall']['mean'])} / 5,"
        f" {_f(total['overall']['percent_satisfied'])} % satisfied (score 4-5)"
    )
    ctx.table(
        [
            (
                d["label_th"],
                d["value"],
                d["responses"],
                _f(d["overall"]["mean"]),
                _f(d["overall"]["percent_satisfied"]),
            )
            for d in body.get("items", [])
        ],
        ("ส่วนราชการ", "department", "responses", "mean", "% satisfied"),
    )
    per_q = {q["id"]: q for q in total["questions"]}
    ctx.table(
        [
            (q["label_th"], q["count"], _f(q["mean"]), _f(q["percent_satisfied"]))
            for q in total["questions"]
            if q["type"] == "scale"
        ],
        ("ด้าน", "answers", "mean", "% satisfied"),
    )
    if "fixed" in per_q:
        ctx.line(
            "  'Was it really fixed?': "
            + ", ".join(f"{k} {v}" for k, v in per_q["fixed"]["distribution"].items())
        )
    alerts = (
        await ctx.client.get(
            ctx.url("survey", "/v1/alerts"),
            params={"fiscal_year": str(fy)},
            headers=await ctx.as_(READER),
        )
    ).json()
    items = alerts.get("items", [])
    ctx.line(
        f"\n  Alerts raised: {len(items)} -> improvement actions by status: "
        + ", ".join(f"{k} {n}" for k, n in sorted(alerts.get("actions_by_status", {}).items()))
    )
    ctx.table(
        [(rule, n) for rule, n in Counter(a["rule_th"] for a in items).most_common()],
        ("alert", "count"),
    )
    for a in items[:5]:
        ctx.line(
            f"   - [{a['department_th']}] {a['description_th'][:110]}"
            f"  -> {a['action']['case_id'] or '(case pending)'} {a['action']['status_th']}"
        )
    ctx.line(f"  report: {ctx.url('survey', f'/v1/reports/satisfaction/{fy}')}")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


__all__ = ["answers_for", "chosen", "run"]
