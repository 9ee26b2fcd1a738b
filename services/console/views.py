"""The pages beyond an officer's own queue: a head's department, the executives' overview,
the planners' projects and the operators' dead letters. Each reads the services' APIs with
the person's own token, so a role sees here exactly what the APIs show it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from services.console.domain import queue as q
from services.console.http import Ctx, form_of, queue_rows, render, text_of
from services.console.upstream import Refusal
from shared.http import FISCAL_YEARS, MAX_COUNT, int_in
from shared.roles import Role
from shared.thai import fiscal_year_be

NOT_YOURS = Refusal(403, "หน้านี้สำหรับบทบาทอื่น", "กลับไปที่เมนูของท่าน")
BUS_SERVICES = ("intake", "routing", "survey", "compliance")


async def _soft(call: Any) -> Any:
    """A part of a page that may be missing: the rest is still shown."""
    try:
        return await call
    except Refusal:
        return None


def workload(rows: list[q.Row]) -> list[dict[str, Any]]:
    """Open, overdue and due-this-week cases per officer, the busiest first."""
    per: dict[str, dict[str, Any]] = {}
    for r in rows:
        officer = str(r.case.get("officer_id") or "–")
        entry = per.setdefault(officer, {"officer_id": officer, "open": 0, "overdue": 0, "soon": 0})
        entry["open"] += 1
        entry["overdue"] += r.band is q.OVERDUE
        entry["soon"] += r.band in (q.TODAY, q.WEEK)
    return sorted(per.values(), key=lambda e: (-e["overdue"], -e["open"], e["officer_id"]))


async def department(ctx: Ctx) -> Response:
    who = ctx.who
    if not who.has(Role.HEAD, Role.EXECUTIVE):
        raise NOT_YOURS
    dept = who.department or ""
    if who.has(Role.EXECUTIVE):
        dept = ctx.request.query_params.get("department") or "engineering"
    if dept not in ctx.departments and not who.has(Role.HEAD):
        dept = "engineering"
    api = ctx.console.api
    rows = q.order(await queue_rows(ctx, {"department": dept}, mine=False), ctx.console.now(), None)
    satisfaction, alerts = await asyncio.gather(
        _soft(
            api.call("survey", "GET", "/v1/satisfaction", ctx.token, params={"by": "department"})
        ),
        _soft(api.call("survey", "GET", "/v1/alerts", ctx.token)),
    )
    mine = [
        s
        for s in (satisfaction or {}).get("items", [])
        if isinstance(s, dict) and s.get("value") == dept
    ]
    dept_alerts = [a for a in (alerts or {}).get("items", []) if a.get("department") == dept]
    return render(
        ctx,
        ctx.request,
        "department.html",
        dept=dept,
        rows=rows,
        load=workload(rows),
        overdue=[r for r in rows if r.band is q.OVERDUE],
        satisfaction=mine[0] if mine else None,
        alerts=dept_alerts,
    )


async def executive(ctx: Ctx) -> Response:
    if not ctx.who.has(Role.EXECUTIVE):
        raise NOT_YOURS
    api, token = ctx.console.api, ctx.token
    now = ctx.console.now()

    async def overdue_in(dept: str) -> tuple[str, int]:
        found = await api.call(
            "routing",
            "GET",
            "/v1/cases",
            token,
            params={"department": dept, "overdue": "true", "view": "summary", "limit": "1"},
        )
        return dept, int(found.get("total", 0))

    rows_task = queue_rows(ctx, {}, mine=False)
    corruption_task = api.call(
        "routing",
        "GET",
        "/v1/cases",
        token,
        params={"kind": "corruption_report", "view": "summary", "limit": "200"},
    )
    rows, corruption, overdue, totals, satisfaction, projects = await asyncio.gather(
        rows_task,
        corruption_task,
        asyncio.gather(*(overdue_in(d) for d in ctx.departments)),
        _soft(
            api.call("routing", "GET", "/v1/cases", token, params={"view": "summary", "limit": "1"})
        ),
        _soft(api.call("survey", "GET", "/v1/satisfaction", token)),
        _soft(api.call("compliance", "GET", "/v1/projects", token, params={"limit": "500"})),
    )
    ordered = q.order(rows, now, None)
    escalated = [r for r in ordered if (r.case.get("escalation_level") or 0) > 0]
    violating = [
        p
        for p in (projects or {}).get("items", [])
        if any(v.get("status", "open") == "open" for v in p.get("violations", []))
    ]
    return render(
        ctx,
        ctx.request,
        "executive.html",
        escalated=escalated,
        corruption=q.order(corruption.get("items", []), now, None),
        overdue=sorted(overdue, key=lambda d: -d[1]),
        total=(totals or {}).get("total"),
        open_count=len(ordered),
        satisfaction=(satisfaction or {}).get("total"),
        fiscal_year=fiscal_year_be(now),
        violating=violating,
    )


# --------------------------------------------------------------------------- projects

STAGES = {
    "planning": "วางแผน",
    "approved": "อนุมัติแล้ว",
    "procurement": "จัดซื้อจัดจ้าง",
    "contracted": "ลงนามสัญญา",
    "in_progress": "ดำเนินการ",
    "inspection": "ตรวจรับ",
    "completed": "แล้วเสร็จ",
    "cancelled": "ยกเลิก",
}
PARTICIPATION = {
    "public_hearing": "การรับฟังความคิดเห็น",
    "community_forum": "ประชาคม",
    "inspection_committee": "ผู้แทนประชาชนในคณะกรรมการตรวจรับ",
    "public_report_back": "รายงานผลต่อสาธารณะ",
    "other": "อื่น ๆ",
}
GROUPS = {
    "citizens": "ประชาชน",
    "community_leaders": "ผู้นำชุมชน",
    "private_sector": "ภาคเอกชน",
    "civil_society": "ภาคประชาสังคม",
}


def _planner(ctx: Ctx) -> None:
    if not ctx.who.has(Role.PLANNER, Role.EXECUTIVE):
        raise NOT_YOURS


async def projects(ctx: Ctx) -> Response:
    _planner(ctx)
    found = await ctx.console.api.call(
        "compliance", "GET", "/v1/projects", ctx.token, params={"limit": "500"}
    )
    return render(
        ctx,
        ctx.request,
        "projects.html",
        projects=found.get("items", []),
        stages=STAGES,
        fiscal_year=fiscal_year_be(ctx.console.now()),
        values={},
    )


async def project_new(ctx: Ctx) -> Response:
    _planner(ctx)
    form = form_of(ctx)
    fiscal_year = int_in(text_of(form, "fiscal_year"), *FISCAL_YEARS)
    body = {
        "project_id": text_of(form, "project_id"),
        "name": text_of(form, "name"),
        "fiscal_year": fiscal_year,
        "budget": text_of(form, "budget"),
        "funding_source": text_of(form, "funding_source"),
        "key_policy": text_of(form, "key_policy") == "yes",
        "key_mission": text_of(form, "key_mission") == "yes",
        "stage": text_of(form, "stage") or "planning",
    }
    try:
        if fiscal_year is None and text_of(form, "fiscal_year"):
            raise Refusal(
                422,
                "ปีงบประมาณต้องเป็นปี พ.ศ. เช่น 2569",
                "แก้ปีงบประมาณแล้วกดบันทึกอีกครั้ง",
                "fiscal_year",
            )
        await ctx.console.api.call("compliance", "POST", "/v1/projects", ctx.token, json=body)
    except Refusal as refusal:
        found = await ctx.console.api.call(
            "compliance", "GET", "/v1/projects", ctx.token, params={"limit": "500"}
        )
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        return render(
            ctx,
            ctx.request,
            "projects.html",
            refusal.status,
            projects=found.get("items", []),
            stages=STAGES,
            fiscal_year=fiscal_year_be(ctx.console.now()),
            values=values,
            refusal=refusal,
        )
    ctx.session.flash = "ลงทะเบียนโครงการแล้ว"
    return RedirectResponse(f"/projects/{quote(text_of(form, 'project_id'), safe='')}", 303)


async def project(ctx: Ctx, refusal: Refusal | None = None, status: int = 200) -> Response:
    _planner(ctx)
    project_id = ctx.request.path_params["project_id"]
    found = await ctx.console.api.call(
        "compliance", "GET", f"/v1/projects/{quote(project_id, safe='')}", ctx.token
    )
    return render(
        ctx,
        ctx.request,
        "project.html",
        status,
        p=found,
        stages=STAGES,
        kinds=PARTICIPATION,
        groups=GROUPS,
        refusal=refusal,
        today=date.today().isoformat(),
    )


async def project_get(ctx: Ctx) -> Response:
    return await project(ctx)


def project_event(form: Mapping[str, Any], who_id: str) -> dict[str, Any]:
    """The compliance event a project form stands for."""
    kind = text_of(form, "type")
    if kind == "budget_changed":
        return {
            "type": kind,
            "budget": text_of(form, "budget"),
            "reason": text_of(form, "reason") or None,
        }
    if kind == "stage_changed":
        return {
            "type": kind,
            "stage": text_of(form, "stage"),
            "note": text_of(form, "note") or None,
        }
    if kind == "waived":
        return {
            "type": kind,
            "requirement": text_of(form, "requirement"),
            "reason": text_of(form, "reason"),
            "authority": text_of(form, "authority") or None,
        }
    if kind == "participation_recorded":
        participants = {}
        for group in GROUPS:
            if count := int_in(text_of(form, f"participants_{group}"), 1, MAX_COUNT):
                participants[group] = count
        issues = [line.strip() for line in text_of(form, "issues").splitlines() if line.strip()]
        return {
            "type": kind,
            "record_id": text_of(form, "record_id"),
            "kind": text_of(form, "kind"),
            "held_on": text_of(form, "held_on"),
            "participants": participants,
            "evidence_ref": text_of(form, "evidence_ref"),
            "issues": issues,
            "results": text_of(form, "results"),
            "changes": text_of(form, "changes"),
            "recorded_by": who_id,
        }
    raise Refusal(400, "ไม่รู้จักรายการนี้", "กลับไปที่หน้าโครงการแล้วเลือกใหม่")


async def project_post(ctx: Ctx) -> Response:
    _planner(ctx)
    project_id = ctx.request.path_params["project_id"]
    body = project_event(form_of(ctx), ctx.who.officer_id or ctx.who.subject)
    try:
        await ctx.console.api.call(
            "compliance",
            "POST",
            f"/v1/projects/{quote(project_id, safe='')}/events",
            ctx.token,
            json=body,
        )
    except Refusal as refusal:
        return await project(ctx, refusal, refusal.status)
    ctx.session.flash = "บันทึกแล้ว"
    return RedirectResponse(f"/projects/{quote(project_id, safe='')}", status_code=303)


# --------------------------------------------------------------------------- operators


async def operator(ctx: Ctx) -> Response:
    if not ctx.who.has(Role.OPERATOR, Role.EXECUTIVE, Role.AUDITOR):
        raise NOT_YOURS
    api = ctx.console.api

    async def letters(service: str) -> tuple[str, Any]:
        return service, await _soft(
            api.call(service, "GET", "/v1/dlq", ctx.token, params={"limit": "100"})
        )

    found, directory = await asyncio.gather(
        asyncio.gather(*(letters(s) for s in BUS_SERVICES)),
        _soft(api.call("routing", "GET", "/v1/directory", ctx.token)),
    )
    return render(ctx, ctx.request, "operator.html", services=found, directory=directory)


def _service(ctx: Ctx) -> str:
    service = ctx.request.path_params["service"]
    if service not in BUS_SERVICES:
        raise Refusal(404, "ไม่พบบริการนี้", "เลือกบริการจากหน้ารายการจดหมายตีกลับ")
    return str(service)


async def letter(ctx: Ctx) -> Response:
    if not ctx.who.has(Role.OPERATOR, Role.EXECUTIVE, Role.AUDITOR):
        raise NOT_YOURS
    service, letter_id = _service(ctx), ctx.request.path_params["letter_id"]
    # The body comes only for operators, and the service records that read before answering.
    found = await ctx.console.api.call(
        service, "GET", f"/v1/dlq/{quote(letter_id, safe='')}", ctx.token
    )
    return render(ctx, ctx.request, "letter.html", service=service, letter=found)


async def replay(ctx: Ctx) -> Response:
    if not ctx.who.has(Role.OPERATOR):
        raise NOT_YOURS
    service, letter_id = _service(ctx), ctx.request.path_params["letter_id"]
    again = "?again=true" if text_of(form_of(ctx), "again") == "yes" else ""
    await ctx.console.api.call(
        service, "POST", f"/v1/dlq/{quote(letter_id, safe='')}/replay{again}", ctx.token
    )
    ctx.session.flash = "ส่งจดหมายตีกลับเข้าระบบอีกครั้งแล้ว"
    return RedirectResponse(f"/operator/{service}/{quote(letter_id, safe='')}", status_code=303)
