"""Demo stage 2 (measure 3): every matter gets an owner, a reason and a legal deadline.

Reads what routing decided for the cases intake accepted; it creates nothing, so running
the demo again shows the same cases, not more of them. The Traffy reports are from May
2023 and keep their real receipt time, so their 15-day reply deadline passed long ago:
they show up overdue and escalated, which is what the law would say about them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tools.demo.context import DemoContext

PAGE = 500
READER = "palad"  # the ปลัด sees every department's cases (docs/auth.md)
SAMPLE = 6


async def _all_cases(ctx: DemoContext) -> list[dict[str, Any]]:
    """Every case's work-queue row (the summary view reads routing's slim index)."""
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        r = await ctx.client.get(
            ctx.url("routing", "/v1/cases"),
            params={"view": "summary", "limit": PAGE, "offset": offset},
            headers=await ctx.as_(READER),
        )
        r.raise_for_status()
        page = r.json()
        items.extend(page["items"])
        offset += PAGE
        if offset >= page["total"] or not page["items"]:
            return items


async def run(ctx: DemoContext) -> None:
    ctx.heading("Routing: an owner for every matter (measure 3)")
    accepted: dict[str, str] = ctx.results.get("intake", {}).get("accepted", {})
    wanted = set(accepted.values())
    if not wanted:
        ctx.line("  no accepted cases to route")
        ctx.results["routing"] = {
            "assigned": 0,
            "by_department": Counter(),
            "by_officer": Counter(),
        }
        return

    async def progress() -> tuple[int, int]:
        owned = [c for c in await _all_cases(ctx) if c["case_id"] in wanted and c["department"]]
        return len(owned), len(wanted)

    # Generous: routing on FerretDB (SQLite) and 2 shared cores is the slow part.
    await ctx.wait_for(progress, "cases with an owner", timeout=1800)
    cases = [c for c in await _all_cases(ctx) if c["case_id"] in wanted]
    assigned = [c for c in cases if c.get("department")]

    # One full case per department: its reasons, and the names behind the codes.
    samples: dict[str, dict[str, Any]] = {}
    for c in assigned:
        if c["department"] not in samples and len(samples) < SAMPLE:
            r = await ctx.client.get(
                ctx.url("routing", f"/v1/cases/{c['case_id']}"), headers=await ctx.as_(READER)
            )
            if r.status_code == 200:
                samples[c["department"]] = r.json()
    names = {d: (s.get("department_name") or {}).get("th") or d for d, s in samples.items()}

    by_department: Counter[str] = Counter()
    overdue_by_dept: Counter[str] = Counter()
    escalated_by_dept: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_officer: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for c in assigned:
        name = names.get(c["department"], c["department"])
        by_department[name] += 1
        overdue_by_dept[name] += bool(c["overdue"])
        escalated_by_dept[name] += c["escalation_level"] > 0
        by_category[c.get("category") or "-"] += 1
        by_officer[c.get("officer_id") or "-"] += 1
        sources[c.get("category_source") or "-"] += 1

    ctx.line(
        f"  cases routed: {len(assigned)} of {len(wanted)} accepted"
        f"   (category chosen by the citizen: {sources['citizen']},"
        f" by the classifier: {sources['classifier']})"
    )
    ctx.line()
    ctx.line("  By department")
    ctx.table(
        [(d, n, overdue_by_dept[d], escalated_by_dept[d]) for d, n in by_department.most_common()],
        ("department", "cases", "overdue", "escalated"),
    )
    ctx.line()
    ctx.line("  By category (top 12)")
    ctx.table(by_category.most_common(12), ("category", "cases"))

    ctx.line()
    ctx.line("  Why: a sample of routing decisions (one per department)")
    for c in samples.values():
        officer = (c.get("officer") or {}).get("name") or "-"
        ctx.line(f"  {c['case_id']}  {c['text'][:60].replace(chr(10), ' ')}")
        ctx.line(f"      -> {c['department']} / {officer}")
        for reason in c["reasons"]:
            ctx.line(f"         {reason}")

    overdue = sum(1 for c in assigned if c["overdue"])
    escalated = Counter(c["escalation_level"] for c in assigned if c["escalation_level"])
    duplicates = sum(1 for c in assigned if c.get("likely_duplicate_of"))
    within = len(assigned) - overdue
    ctx.line()
    ctx.line("  Deadlines (reply within 15 days of receipt, Royal Decree B.E. 2546 s.38)")
    ctx.table(
        [
            ("within deadline", within),
            ("overdue", overdue),
            ("escalated to head of division (level 1)", escalated[1]),
            ("escalated to ปลัด (level 2)", escalated[2]),
            ("escalated to นายก (level 3)", escalated[3]),
            ("flagged as likely duplicates", duplicates),
        ],
        ("", "cases"),
    )
    if overdue:
        ctx.line("  (the reports were received in May 2023: their deadlines passed long ago)")
    ctx.results["routing"] = {
        "assigned": len(assigned),
        "by_department": by_department,
        "by_officer": by_officer,
        "by_category": by_category,
        "overdue": overdue,
        "within_deadline": within,
        "escalated": sum(escalated.values()),
    }
