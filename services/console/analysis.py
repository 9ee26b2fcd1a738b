"""The analysis page (issue 16, measure 3): insight's live figures, hotspots, seasonality,
silent villages, root causes, consultations and the improvement plan, for the current Thai
fiscal quarter or one chosen.

The scope follows the sign-in's roles: a head or an officer sees their own department, an
executive (or an auditor) the whole SAO or any department. The console only chooses what to
ask for; insight answers the person's own token and its refusals (a 403 for another
department's plan, a 409 for a closed action, a 422) are shown as the other pages show them.
"""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from services.console.http import Ctx, form_of, render, text_of
from services.console.upstream import Refusal
from shared.auth import Principal
from shared.http import FISCAL_YEARS, MAX_COUNT, VILLAGES, int_in
from shared.roles import Role
from shared.thai import METRIC_NAMES_TH, to_bangkok

READERS = (Role.OFFICER, Role.HEAD, Role.EXECUTIVE, Role.AUDITOR)
WHOLE_SAO = (Role.EXECUTIVE, Role.AUDITOR)
PLANNERS = (Role.HEAD, Role.EXECUTIVE)  # insight's: who adds findings and actions
FOLLOWERS = (Role.OFFICER, Role.HEAD, Role.EXECUTIVE)
NOT_YOURS = Refusal(403, "หน้านี้สำหรับบทบาทอื่น", "กลับไปที่เมนูของท่าน")
NO_DEPARTMENT = Refusal(
    403,
    "บัญชีของท่านยังไม่ได้สังกัดส่วนราชการ จึงยังดูการวิเคราะห์ไม่ได้",
    "ติดต่อผู้ดูแลระบบให้กำหนดส่วนราชการของบัญชี",
)
BE_OFFSET = 543

KINDS_TH = {
    "village_forum": "ประชาคมหมู่บ้าน",
    "public_hearing": "การรับฟังความคิดเห็น",
    "focus_group": "การสนทนากลุ่ม",
    "survey_meeting": "ประชุมสำรวจความต้องการ",
    "other": "อื่น ๆ",
}
GROUPS_TH = {
    "residents": "ประชาชน",
    "community_leaders": "ผู้นำชุมชน",
    "elderly": "ผู้สูงอายุ",
    "youth": "เยาวชน",
    "businesses": "ผู้ประกอบการ",
    "officers": "เจ้าหน้าที่",
}
ACTION_STATES_TH = {
    "planned": "วางแผนแล้ว",
    "in_progress": "กำลังดำเนินการ",
    "done": "เสร็จแล้ว",
    "dropped": "ยกเลิก",
}
FINDING_SOURCES_TH = {
    "analysis": "จากการวิเคราะห์",
    "consultation": "จากการรับฟังความคิดเห็น",
    "survey_alert": "จากผลสำรวจความพึงพอใจ",
}
MONTHS_TH = (
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
)


# --------------------------------------------------------------------------- the view model


def fiscal_quarter(day: date) -> tuple[int, int]:
    """(fiscal year BE, quarter): the Thai fiscal year runs 1 October to 30 September."""
    fy = day.year + 1 if day.month >= 10 else day.year
    return fy + BE_OFFSET, ((day.month - 10) % 12) // 3 + 1


def month_th(value: str) -> str:
    """`2026-05` as `พ.ค. 2569`; anything else as it is."""
    try:
        year, month = (int(p) for p in value.split("-", 1))
        return f"{MONTHS_TH[month - 1]} {year + BE_OFFSET}"
    except (ValueError, IndexError):
        return value


def number(value: Any, unit: str = "") -> str:
    """A figure as text, "–" when there is none yet (no case to divide by)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    if isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    else:
        text = f"{value:,}"
    return f"{text}{unit}"


@dataclass(frozen=True)
class Scope:
    """What the page shows: one department's work, or the whole SAO's (department None)."""

    fiscal_year: int
    quarter: int
    department: str | None

    @property
    def query(self) -> str:
        values = {"fy": str(self.fiscal_year), "q": str(self.quarter)}
        if self.department:
            values["department"] = self.department
        return urlencode(values)


def scope_of(who: Principal, params: Mapping[str, str], today: date) -> Scope:
    """The quarter asked for (the current one by default) and the department the role may
    look at: its own for a head or an officer whatever was asked, any or none (the SAO)
    for an executive or an auditor."""
    fy, q = fiscal_quarter(today)
    fy = int_in(params.get("fy"), *FISCAL_YEARS) or fy
    q = int_in(params.get("q"), 1, 4) or q
    if who.has(*WHOLE_SAO):
        return Scope(fy, q, params.get("department") or None)
    if not who.department:
        raise NO_DEPARTMENT
    return Scope(fy, q, who.department)


def in_department(rows: list[dict[str, Any]], department: str | None) -> list[dict[str, Any]]:
    """Slices of a `department_*` dimension (`value` "dept|rest"): those of the department,
    `value` cut to the rest; every department's when None."""
    out = []
    for row in rows:
        dept, _, rest = str(row.get("value", "")).partition("|")
        if department is None or dept == department:
            out.append({**row, "value": rest, "department": dept})
    return out


def quarter_months(fiscal_year: int, quarter: int) -> list[str]:
    """The quarter's months as `YYYY-MM` (Christian years, as insight keys them)."""
    first = (9 + 3 * (quarter - 1)) % 12 + 1  # Q1 starts in October
    out = []
    for i in range(3):
        month = (first - 1 + i) % 12 + 1
        year = fiscal_year - BE_OFFSET - (1 if month >= 10 else 0)
        out.append(f"{year}-{month:02d}")
    return out


def quarter_end(fiscal_year: int, quarter: int) -> str:
    """The quarter's last day (ISO): an action's due date unless another is chosen."""
    year, month = (int(p) for p in quarter_months(fiscal_year, quarter)[-1].split("-"))
    return date(year, month, calendar.monthrange(year, month)[1]).isoformat()


def plan_of_quarter(plans: list[dict[str, Any]], quarter: int) -> list[dict[str, Any]]:
    return [p for p in plans if p.get("quarter") == quarter]


def consultations_in(found: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    """The quarter's consultations: a department sees those about it and the SAO-wide ones."""
    return [
        c
        for c in found
        if c.get("fiscal_year") == scope.fiscal_year
        and c.get("quarter") == scope.quarter
        and (scope.department is None or c.get("department") in (None, scope.department))
    ]


def report_links(site: str, scope: Scope) -> list[tuple[str, str, str]]:
    """(label, HTML, PDF) of the quarterly reports as the public website publishes them (its
    ITA page passes insight's on): the department's and the SAO's."""
    key = f"{site}/ita/insight/{scope.fiscal_year}/{scope.quarter}"
    links = []
    if scope.department:
        dept = quote(scope.department, safe="")
        links.append(
            ("ของส่วนราชการ", f"{key}?department={dept}", f"{key}?department={dept}&format=pdf")
        )
    links.append(("ของ อบต. ทั้งหมด", key, f"{key}?format=pdf"))
    return links


def participants_of(form: FormData | Mapping[str, Any]) -> dict[str, int]:
    """Who took part, by group: counts only (the form has no field for a name)."""
    out = {}
    for group in GROUPS_TH:
        if count := int_in(text_of(form, f"participants_{group}"), 1, MAX_COUNT):
            out[group] = count
    return out


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def words_of(text: str) -> list[str]:
    return [w for w in text.replace(",", " ").split() if w]


def consultation_body(form: FormData | Mapping[str, Any], scope: Scope) -> dict[str, Any]:
    return {
        "held_on": text_of(form, "held_on") or None,
        "kind": text_of(form, "kind") or "village_forum",
        "title": text_of(form, "title"),
        "participants": participants_of(form),
        "said": lines_of(text_of(form, "said")),
        "village_no": int_in(text_of(form, "village_no"), *VILLAGES),
        "department": scope.department,
        "case_ids": words_of(text_of(form, "case_ids")),
        "categories": words_of(text_of(form, "categories")),
        "project_ids": words_of(text_of(form, "project_ids")),
        "activity_id": text_of(form, "activity_id") or None,
    }


# --------------------------------------------------------------------------- reading insight


async def _part(call: Awaitable[Any]) -> Any:
    """A part of the page: its answer, or the refusal to show in its place."""
    try:
        return await call
    except Refusal as refusal:
        return refusal


def _ok(value: Any) -> bool:
    return not isinstance(value, Refusal)


async def figures_of(ctx: Ctx, scope: Scope) -> dict[str, Any]:
    """The quarter's headline figures and the fiscal year's by category, village and month:
    what the live part of the page refreshes."""
    api, token = ctx.console.api, ctx.token
    dept = scope.department

    def fig(dim: str) -> Awaitable[Any]:
        params = {"dim": dim, "fy": str(scope.fiscal_year)}
        return api.call("insight", "GET", "/v1/insight/figures", token, params=params)

    head = api.call(
        "insight",
        "GET",
        f"/v1/insight/quarters/{scope.fiscal_year}/{scope.quarter}",
        token,
        params={"department": dept},
    )
    if dept is None:
        quarter, by_category, by_village, by_month = await asyncio.gather(
            head, _part(fig("category")), _part(fig("village")), _part(fig("month"))
        )
    else:
        quarter, by_category, by_month = await asyncio.gather(
            head, _part(fig("department_category")), _part(fig("department_month"))
        )
        by_village = None  # insight counts villages for the SAO only
        if _ok(by_category):
            by_category = {"slices": in_department(by_category.get("slices", []), dept)}
        if _ok(by_month):
            by_month = {"slices": in_department(by_month.get("slices", []), dept)}
    return {
        "quarter": quarter,
        "by_category": by_category,
        "by_village": by_village,
        "by_month": by_month,
    }


async def _plans(ctx: Ctx, scope: Scope) -> Any:
    api, token = ctx.console.api, ctx.token
    if scope.department is None:
        found = await api.call(
            "insight", "GET", "/v1/plans", token, params={"fy": str(scope.fiscal_year)}
        )
        return plan_of_quarter(list(found.get("plans", [])), scope.quarter)
    path = f"/v1/plans/{quote(scope.department, safe='')}/{scope.fiscal_year}/{scope.quarter}"
    try:
        return [await api.call("insight", "GET", path, token)]
    except Refusal as refusal:
        if refusal.status == 404:
            return []  # no finding yet this quarter: the form below starts the plan
        raise


async def page(
    ctx: Ctx, *, refusal: Refusal | None = None, status: int = 200, values: Any = None
) -> Response:
    who = ctx.who
    if not who.has(*READERS):
        raise NOT_YOURS
    today = to_bangkok(ctx.console.now()).date()
    scope = scope_of(who, ctx.request.query_params, today)
    api, token = ctx.console.api, ctx.token
    fy = str(scope.fiscal_year)
    figures, hotspots, seasons, silent, causes, consultations, plans = await asyncio.gather(
        figures_of(ctx, scope),
        _part(api.call("insight", "GET", "/v1/insight/hotspots", token)),
        _part(api.call("insight", "GET", "/v1/insight/seasonality", token, params={"fy": fy})),
        _part(api.call("insight", "GET", "/v1/insight/silent-villages", token, params={"fy": fy})),
        _part(
            api.call(
                "insight",
                "GET",
                "/v1/insight/causes",
                token,
                params={"fy": fy, "department": scope.department},
            )
        ),
        _part(api.call("insight", "GET", "/v1/consultations", token, params={"fy": fy})),
        _part(_plans(ctx, scope)),
    )
    if _ok(consultations):
        consultations = consultations_in(list(consultations.get("consultations", [])), scope)
    this_fy, this_q = fiscal_quarter(today)
    return render(
        ctx,
        ctx.request,
        "analysis.html",
        status,
        scope=scope,
        current=(this_fy, this_q),
        years=list(range(this_fy, this_fy - 3, -1)),
        months=quarter_months(scope.fiscal_year, scope.quarter),
        figures=figures,
        hotspots=hotspots,
        seasons=seasons,
        silent=silent,
        causes=causes,
        consultations=consultations,
        plans=plans,
        reports=report_links(ctx.console.settings.tracker_base, scope),
        may_plan=who.has(*PLANNERS) and scope.department is not None,
        may_follow=who.has(*FOLLOWERS) and scope.department is not None,
        refusal=refusal,
        values=values or {},
        today=today.isoformat(),
        due=quarter_end(scope.fiscal_year, scope.quarter),
        ok=_ok,
        metrics=METRIC_NAMES_TH,
        kinds_th=KINDS_TH,
        groups_th=GROUPS_TH,
        states_th=ACTION_STATES_TH,
        sources_th=FINDING_SOURCES_TH,
        month_th=month_th,
        number=number,
    )


async def analysis(ctx: Ctx) -> Response:
    return await page(ctx)


async def updates(ctx: Ctx) -> Response:
    """The live part of the page (polled by console.js): the quarter's figures again."""
    if not ctx.who.has(*READERS):
        raise NOT_YOURS
    today = to_bangkok(ctx.console.now()).date()
    scope = scope_of(ctx.who, ctx.request.query_params, today)
    return render(
        ctx,
        ctx.request,
        "analysis_figures.html",
        scope=scope,
        months=quarter_months(scope.fiscal_year, scope.quarter),
        figures=await figures_of(ctx, scope),
        ok=_ok,
        month_th=month_th,
        number=number,
    )


# --------------------------------------------------------------------------- the forms


async def _post(ctx: Ctx, path: str, body: dict[str, Any], done: str) -> Response:
    today = to_bangkok(ctx.console.now()).date()
    scope = scope_of(ctx.who, ctx.request.query_params, today)
    form = form_of(ctx)
    try:
        await ctx.console.api.call("insight", "POST", path, ctx.token, json=body)
    except Refusal as refusal:
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        return await page(ctx, refusal=refusal, status=refusal.status, values=values)
    ctx.session.flash = done
    return RedirectResponse(f"/analysis?{scope.query}", status_code=303)


def _plan_path(ctx: Ctx) -> tuple[Scope, str]:
    today = to_bangkok(ctx.console.now()).date()
    scope = scope_of(ctx.who, ctx.request.query_params, today)
    if scope.department is None:
        raise Refusal(422, "ยังไม่ได้เลือกส่วนราชการของแผน", "เลือกส่วนราชการด้านบนของหน้าแล้วบันทึกอีกครั้ง")
    dept = quote(scope.department, safe="")
    return scope, f"/v1/plans/{dept}/{scope.fiscal_year}/{scope.quarter}"


async def consultation_post(ctx: Ctx) -> Response:
    today = to_bangkok(ctx.console.now()).date()
    scope = scope_of(ctx.who, ctx.request.query_params, today)
    body = consultation_body(form_of(ctx), scope)
    return await _post(ctx, "/v1/consultations", body, "บันทึกการรับฟังความคิดเห็นแล้ว")


async def finding_post(ctx: Ctx) -> Response:
    form = form_of(ctx)
    _, path = _plan_path(ctx)
    body = {
        "text": text_of(form, "text"),
        "source": text_of(form, "source") or "analysis",
        "metric": text_of(form, "metric") or None,
        "ref": text_of(form, "ref") or None,
    }
    return await _post(ctx, f"{path}/findings", body, "บันทึกข้อค้นพบแล้ว")


async def action_post(ctx: Ctx) -> Response:
    form = form_of(ctx)
    _, path = _plan_path(ctx)
    body = {
        "finding_id": text_of(form, "finding_id"),
        "text": text_of(form, "text"),
        "owner": text_of(form, "owner"),
        "due": text_of(form, "due") or None,
        "metric": text_of(form, "metric"),
        "expected": text_of(form, "expected"),
    }
    return await _post(ctx, f"{path}/actions", body, "เพิ่มการปรับปรุงในแผนแล้ว")


async def followup_post(ctx: Ctx) -> Response:
    form = form_of(ctx)
    _, path = _plan_path(ctx)
    action_id = quote(ctx.request.path_params["action_id"], safe="")
    body = {
        "note": text_of(form, "note"),
        "status": text_of(form, "status") or "in_progress",
        "on": text_of(form, "on") or None,
    }
    return await _post(ctx, f"{path}/actions/{action_id}/followups", body, "บันทึกการติดตามผลแล้ว")
