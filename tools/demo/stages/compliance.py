"""Demo stage 4 (measure 5): the SAO's projects, the participation they owe, and who broke it.

Most projects are entered by hand over HTTP; two come from the "planning system" on
Kafka, one of them delivered shuffled and with a duplicate, as a real feed might.
Every id, event id and date is fixed, so a second `make demo` changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events.compliance import project_event_id
from shared.topics import Topic, name
from tools.demo.context import DemoContext

ORG = "sraphonthong"
FY = 2569
T0 = datetime(2025, 10, 15, 2, 0, tzinfo=UTC)
KAFKA_WAIT_SECONDS = 60.0

TYPES = {
    "registered": "ProjectRegistered",
    "budget_changed": "ProjectBudgetChanged",
    "stage_changed": "ProjectStageChanged",
    "flagged": "ProjectFlagged",
    "waived": "ProjectRequirementWaived",
    "participation_recorded": "ParticipationRecorded",
}


def project(pid: str, name: str, budget: Any, funding: str, **extra: Any) -> dict[str, Any]:
    return {
        "project_id": pid,
        "org_id": ORG,
        "name": name,
        "fiscal_year": FY,
        "budget": budget,
        "funding_source": funding,
        **extra,
    }


def participation(
    record_id: str,
    kind: str,
    held_on: str,
    who: dict[str, int],
    issues: list[str],
    results: str,
    changes: str,
) -> dict[str, Any]:
    return {
        "type": "participation_recorded",
        "record_id": record_id,
        "kind": kind,
        "held_on": held_on,
        "participants": who,
        "evidence_ref": f"https://www.sraponthong.go.th/participation/{record_id}",
        "issues": issues,
        "results": results,
        "changes": changes,
    }


ROAD = "SPT-P2569-001"
WATER = "SPT-P2569-002"
CHILD = "SPT-P2569-003"
WASTE = "SPT-P2569-004"
POND = "SPT-P2569-005"
LIGHT = "SPT-P2569-006"
SURFACE = "SPT-P2569-007"

# (registration, [events]) entered over HTTP; each event has a fixed idempotency key.
HTTP_PROJECTS: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    (
        project(
            ROAD,
            "ก่อสร้างถนนคอนกรีตเสริมเหล็ก สายบ้านโนนสะอาด-บ้านหนองแวง หมู่ที่ 4",
            "12,500,000.00",
            "เงินอุดหนุนเฉพาะกิจ",
            planned_procurement_date="2026-01-20",
        ),
        [
            participation(
                "SPT-PH-2569-004",
                "public_hearing",
                "2025-11-08",
                {"citizens": 112, "community_leaders": 9, "private_sector": 3},
                ["แนวเขตทางผ่านที่นาของราษฎร", "น้ำท่วมขังช่วงฤดูฝนบริเวณกลางหมู่บ้าน"],
                "ที่ประชุมเห็นชอบให้ก่อสร้าง และขอให้เพิ่มท่อลอดเหลี่ยม",
                "ปรับแบบเพิ่มท่อลอดเหลี่ยม 2 จุด และยกระดับผิวทาง 20 ซม. ช่วงน้ำท่วม",
            ),
            {"type": "stage_changed", "stage": "approved"},
            {"type": "stage_changed", "stage": "procurement"},
        ],
    ),
    (
        project(
            WATER, "ปรับปรุงระบบประปาหมู่บ้านแบบบาดาลขนาดใหญ่ หมู่ที่ 7", "10,000,000.00", "เงินอุดหนุนเฉพาะกิจ"
        ),
        [{"type": "stage_changed", "stage": "approved"}],
    ),
    (
        project(
            WASTE,
            'โครงการ "สระโพนทองสะอาด" คัดแยกขยะต้นทางในครัวเรือน',
            "50,000.00",
            "เงินรายได้ อบต.",
            key_policy=True,
        ),
        [
            participation(
                "SPT-CF-2569-011",
                "community_forum",
                "2025-12-02",
                {"citizens": 64, "community_leaders": 12, "civil_society": 4},
                ["จุดทิ้งขยะอันตราย", "รถเก็บขยะเข้าไม่ถึงซอยแคบ"],
                "กำหนดจุดรับขยะอันตรายหมู่บ้านละ 1 จุด และตั้งธนาคารขยะ",
                "เพิ่มกิจกรรมธนาคารขยะในโครงการ แทนการจัดซื้อถังขยะเพิ่ม",
            ),
        ],
    ),
    (
        project(LIGHT, "ติดตั้งไฟฟ้าส่องสว่างพลังงานแสงอาทิตย์ หมู่ที่ 2", "1,980,000.00", "เงินรายได้ อบต."),
        [{"type": "stage_changed", "stage": "procurement"}],
    ),
    (
        project(
            SURFACE,
            "ก่อสร้างระบบประปาผิวดินขนาดใหญ่ บ้านสระโพน หมู่ที่ 9",
            "๑๕,๗๕๐,๐๐๐.๐๐",
            "เงินอุดหนุนเฉพาะกิจ",
        ),
        [
            participation(
                "SPT-PH-2569-009",
                "public_hearing",
                "2025-10-28",
                {"citizens": 148, "community_leaders": 11, "private_sector": 2},
                ["คุณภาพน้ำดิบจากหนองสระโพน", "อัตราค่าน้ำ"],
                "เห็นชอบ โดยให้มีระบบกรองสนิมเหล็กและคณะกรรมการผู้ใช้น้ำ",
                "เพิ่มถังกรองสนิมเหล็กในแบบ และตั้งคณะกรรมการผู้ใช้น้ำ 9 คน",
            ),
            {"type": "stage_changed", "stage": "procurement"},
            {"type": "stage_changed", "stage": "contracted"},
            {"type": "stage_changed", "stage": "in_progress"},
            participation(
                "SPT-IC-2569-009",
                "inspection_committee",
                "2026-03-10",
                {"citizens": 2, "private_sector": 1},
                ["การตรวจรับงานวางท่อเมนช่วงที่ 1"],
                "ผู้แทนประชาชนร่วมตรวจรับ พบรอยรั่ว 3 จุด",
                "ผู้รับจ้างซ่อมรอยรั่วก่อนการตรวจรับงวดสุดท้าย",
            ),
            {"type": "stage_changed", "stage": "inspection"},
            {"type": "stage_changed", "stage": "completed"},
            participation(
                "SPT-RB-2569-009",
                "public_report_back",
                "2026-04-05",
                {"citizens": 96, "community_leaders": 9},
                ["ผลการก่อสร้างและค่าน้ำ"],
                "รายงานผลต่อที่ประชุมหมู่บ้าน ประชาชนพอใจ",
                "กำหนดรอบล้างถังกรองทุก 3 เดือนตามข้อเสนอ",
            ),
        ],
    ),
]

# Kafka-fed projects: (project id, [(kind, fields)]) in version order.
KAFKA_PROJECTS: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = [
    (
        CHILD,
        [
            (
                "registered",
                {
                    "name": "ก่อสร้างอาคารศูนย์พัฒนาเด็กเล็ก อบต.สระโพนทอง (ขนาด 100 คน)",
                    "fiscal_year": FY,
                    "budget": "11,200,000.00",
                    "funding_source": "เงินอุดหนุนเฉพาะกิจ",
                    "stage": "planning",
                },
            ),
            ("stage_changed", {"stage": "approved"}),
            ("stage_changed", {"stage": "procurement", "note": "ประกาศประกวดราคา e-bidding"}),
        ],
    ),
    (
        POND,
        [
            (
                "registered",
                {
                    "name": "ขุดลอกหนองสระโพนเพื่อกักเก็บน้ำ หมู่ที่ 1",
                    "fiscal_year": FY,
                    "budget": "9,000,000.00",
                    "funding_source": "เงินสะสม",
                    "stage": "planning",
                },
            ),
            (
                "budget_changed",
                {"budget": "12,000,000.00", "reason": "ข้อบัญญัติงบประมาณรายจ่ายเพิ่มเติม ฉบับที่ 1"},
            ),
            ("stage_changed", {"stage": "approved"}),
        ],
    ),
]


def kafka_message(pid: str, version: int, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(project_event_id(pid, version)),
        "type": TYPES[kind],
        "org_id": ORG,
        "occurred_at": (T0 + timedelta(days=7 * version)).isoformat(),
        "payload": {"project_id": pid, "version": version, **fields},
    }


async def publish_kafka(ctx: DemoContext, messages: list[dict[str, Any]]) -> str | None:
    """Send the planning system's events; returns why not, if Kafka cannot be reached."""
    try:
        from aiokafka import AIOKafkaProducer
    except ImportError:  # pragma: no cover - aiokafka is a dependency
        return "aiokafka is not installed"
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    topic = name(Topic.PROJECT_EVENTS, os.environ.get("RUAM_TOPIC_PREFIX", ""))
    from shared.kafka import client_options

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, **client_options()
    )
    try:
        await asyncio.wait_for(producer.start(), timeout=20)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        for m in messages:
            await producer.send_and_wait(
                topic,
                json.dumps(m, ensure_ascii=False).encode("utf-8"),
                key=m["payload"]["project_id"].encode("utf-8"),
            )
    finally:
        await producer.stop()
    return None


async def run(ctx: DemoContext) -> None:
    ctx.heading("Compliance: participation in big and key projects (measure 5)")
    url = ctx.url
    http_status: dict[str, str] = {}

    planner = await ctx.as_("planner")
    for registration, events in HTTP_PROJECTS:
        pid = registration["project_id"]
        r = await ctx.client.post(
            url("compliance", "/v1/projects"), json=registration, headers=planner
        )
        if r.status_code not in (200, 201):
            http_status[pid] = f"{r.status_code} {r.json().get('message', r.text)}"
            continue
        http_status[pid] = "new" if r.status_code == 201 else "known"
        for n, ev in enumerate(events, start=1):
            body = {**ev, "event_id": f"demo-{pid}-{n}"}
            # Only the executives may waive a duty to involve the public.
            who = await ctx.as_("palad") if ev.get("type") == "waived" else planner
            e = await ctx.client.post(
                url("compliance", f"/v1/projects/{pid}/events"), json=body, headers=who
            )
            if e.status_code != 200:
                ctx.line(f"  {pid} event {n} refused: {e.status_code} {e.text}")

    # The planning system's feed: shuffled, one event twice; versions put it right.
    stream = [
        kafka_message(pid, v, kind, fields)
        for pid, feed in KAFKA_PROJECTS
        for v, (kind, fields) in enumerate(feed, start=1)
    ]
    stream.append(stream[1])
    random.Random(2569).shuffle(stream)
    problem = await publish_kafka(ctx, stream)
    if problem:
        ctx.line(f"  Kafka feed not sent ({problem}); showing the HTTP projects only")
    else:
        ctx.line(
            f"  planning-system feed: {len(stream)} events on {Topic.PROJECT_EVENTS.value}"
            " (shuffled, one duplicated)"
        )
        deadline = time.monotonic() + KAFKA_WAIT_SECONDS
        for pid, feed in KAFKA_PROJECTS:
            while time.monotonic() < deadline:
                r = await ctx.client.get(url("compliance", f"/v1/projects/{pid}"))
                if r.status_code == 200 and r.json()["applied_version"] >= len(feed):
                    break
                await asyncio.sleep(0.5)

    # A float budget is refused, naming the field.
    bad = project("SPT-P2569-999", "ตัวอย่างงบประมาณไม่ถูกต้อง", 12_000_000.5, "เงินรายได้")
    refusal = await ctx.client.post(url("compliance", "/v1/projects"), json=bad, headers=planner)

    listed = await ctx.client.get(
        url("compliance", "/v1/projects"), params={"fiscal_year": str(FY), "limit": "100"}
    )
    ours = {ROAD, WATER, CHILD, WASTE, POND, LIGHT, SURFACE}
    projects = [p for p in listed.json().get("items", []) if p["project_id"] in ours]
    short = {
        "public_hearing": "hearing",
        "inspection_committee_participation": "inspect",
        "public_report_back": "report",
    }
    rows = []
    for p in projects:
        reqs = (
            " ".join(f"{short.get(r['kind'], r['kind'])}:{r['status']}" for r in p["requirements"])
            or "-"
        )
        why = ", ".join(p["rule_reasons"]) or ("-" if not p["requirements"] else "(raised earlier)")
        rows.append(
            (
                p["project_id"],
                p["source"],
                f"{p['budget']} บาท",
                p["stage"],
                why,
                reqs,
                len(p["violations"]),
            )
        )
    ctx.table(
        rows,
        ("project", "via", "budget", "stage", "rule applies because", "requirements", "violations"),
    )
    for p in projects:
        ctx.line(f"  {p['project_id']} {p['name']}")
    violations = [
        (p["project_id"], v["severity"], v["code"]) for p in projects for v in p["violations"]
    ]
    ctx.line("")
    ctx.line("  violations:")
    if violations:
        ctx.table(violations, ("project", "severity", "code"))
    else:
        ctx.line("    none")
    ctx.line(
        f"  float budget over HTTP: {refusal.status_code} {refusal.json().get('message', '')[:90]}"
    )
    pack = await ctx.client.get(url("compliance", f"/v1/evidence/{FY}"))
    summary = pack.json().get("summary", {}) if pack.status_code == 200 else {}
    ctx.line(f"  evidence pack FY{FY}: {summary}")
    ctx.line(f"  Thai page: {url('compliance', f'/v1/evidence/{FY}.html')}")
    ctx.results["compliance"] = {
        "projects": {p["project_id"]: p for p in projects},
        "violations": violations,
        "http": http_status,
        "kafka_problem": problem,
        "evidence_summary": summary,
    }
