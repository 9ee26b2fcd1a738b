"""Compliance's HTTP API: manual entry, the register, and the fiscal-year evidence pack."""

from __future__ import annotations

import html
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from services.compliance.domain import rules
from services.compliance.domain.errors import (
    ChangeRefused,
    InvalidProjectEvent,
    NotYours,
    ProjectNotFound,
    WrongSource,
)
from services.compliance.domain.model import Project
from services.compliance.domain.money import format_baht
from services.compliance.domain.policy import Policy
from services.compliance.handlers import ComplianceHandlers
from services.compliance.ports import AuditQuery, ProjectQuery
from services.compliance.settings import ComplianceSettings
from shared.access import OVERSEERS, Endpoint, anyone, roles
from shared.audit import source_of
from shared.auth import Forbidden, principal
from shared.events.compliance import (
    ParticipationRecordedPayload,
    ProjectBudgetChangedPayload,
    ProjectFact,
    ProjectFlaggedPayload,
    ProjectRegisteredPayload,
    ProjectRequirementWaivedPayload,
    ProjectStageChangedPayload,
    Stage,
)
from shared.http import (
    FISCAL_YEARS,
    JSON,
    ApiError,
    ErrorTable,
    app_state,
    int_in,
    page,
    parse_int,
    read_object,
    validation_details,
)
from shared.roles import Role
from shared.thai import format_thai_date, thai_digits_to_arabic

MAX_PACK = 5000
ClientEventId = Annotated[str | None, Field(default=None, min_length=1, max_length=200)]


# Request bodies: the Kafka payloads' fields, with what the server supplies made optional.
class RegisterBody(ProjectRegisteredPayload):
    org_id: str | None = Field(default=None, min_length=1, max_length=64)
    version: int = Field(default=1, ge=1, le=1)
    event_id: ClientEventId = None


class _Manual(ProjectFact):
    project_id: str = ""  # the path names the project
    version: int = 1  # the server assigns it
    event_id: ClientEventId = None


class BudgetChangedBody(_Manual, ProjectBudgetChangedPayload):
    type: Literal["budget_changed"]


class StageChangedBody(_Manual, ProjectStageChangedPayload):
    type: Literal["stage_changed"]


class FlaggedBody(_Manual, ProjectFlaggedPayload):
    type: Literal["flagged"]


class WaivedBody(_Manual, ProjectRequirementWaivedPayload):
    type: Literal["waived"]


class ParticipationBody(_Manual, ParticipationRecordedPayload):
    type: Literal["participation_recorded"]


EventBody = Annotated[
    BudgetChangedBody | StageChangedBody | FlaggedBody | WaivedBody | ParticipationBody,
    Field(discriminator="type"),
]
EVENT_BODY: TypeAdapter[EventBody] = TypeAdapter(EventBody)
TAGS = {"budget_changed", "stage_changed", "flagged", "waived", "participation_recorded"}


def refused(exc: ValidationError) -> ApiError:
    """422 naming the field as the client wrote it (without the union's tag)."""
    details = validation_details(exc)
    for d, err in zip(details, exc.errors(), strict=True):
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in TAGS:
            loc = loc[1:]
        if err["type"].startswith("union_tag"):
            loc = ["type"]
        # "budget.function-before[...]" style suffixes add nothing for a person.
        d["field"] = ".".join(p for p in loc if not p.startswith("function-")) or "body"
        d["message"] = d["message"].removeprefix("Value error, ")
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return ApiError(422, "validation_failed", summary, details)


def invalid(exc: InvalidProjectEvent) -> ApiError:
    return ApiError(
        422,
        "validation_failed",
        str(exc),
        [{"field": exc.field, "message": exc.message, "type": "value_error"}],
    )


ERRORS: ErrorTable = {
    ValidationError: refused,
    InvalidProjectEvent: invalid,
    ProjectNotFound: (404, "project_not_found"),
    NotYours: (403, "forbidden"),
    ChangeRefused: (409, "conflict"),
    WrongSource: (409, "conflict"),
}


def handlers_of(request: Request) -> ComplianceHandlers:
    return app_state(request, "handlers", ComplianceHandlers)


def settings_of(request: Request) -> ComplianceSettings:
    return app_state(request, "settings", ComplianceSettings)


# --------------------------------------------------------------------------- views


def money_view(satang: int) -> dict[str, Any]:
    return {"satang": satang, "baht": format_baht(satang)}


def project_view(p: Project, policy: Policy) -> dict[str, Any]:
    labels = {s.kind: s.label_th for s in policy.requirements}
    return {
        "project_id": p.project_id,
        "org_id": p.org_id,
        "registered": p.registered,
        "source": p.source.value,
        "name": p.name,
        "fiscal_year": p.fiscal_year,
        "budget": format_baht(p.budget_satang),
        "budget_satang": p.budget_satang,
        "funding_source": p.funding_source,
        "key_policy": p.key_policy,
        "key_mission": p.key_mission,
        "stage": p.stage.value,
        "planned_procurement_date": p.planned_procurement_date,
        "requires_participation": p.requires_participation,
        "rule_applies_now": bool(rules.triggers(p, policy)),
        "rule_reasons": rules.triggers(p, policy),
        "requirements": [
            {
                "kind": r.kind,
                "label_th": labels.get(r.kind, r.kind),
                "due_stage": r.due_stage.value,
                "due": r.due,
                "severity": r.severity,
                "status": r.status.value,
                "raised_at": r.raised_at,
                "reasons": r.reasons,
                "met_by": r.met_by,
                "met_at": r.met_at,
                "waiver_reason": r.waiver_reason,
                "waiver_authority": r.waiver_authority,
                "waived_at": r.waived_at,
            }
            for r in p.requirements
        ],
        "evidence": [
            {
                "record_id": e.record_id,
                "kind": e.kind,
                "held_on": e.held_on,
                "participants": e.participants,
                "participants_total": sum(e.participants.values()),
                "evidence_ref": e.evidence_ref,
                "issues": e.issues,
                "results": e.results,
                "changes": e.changes,
                "recorded_at": e.recorded_at,
            }
            for e in p.evidence
        ],
        "violations": [v.as_dict() for v in p.violations],
        "warnings": [w.as_dict() for w in p.warnings],
        "timeline": [
            {
                "seq": t.seq,
                "at": t.at,
                "action": t.action,
                "source": t.source.value,
                "version": t.version,
                "summary": t.summary,
                "refused": t.refused,
            }
            for t in p.timeline
        ],
        "applied_version": p.applied_version,
        "pending": {"count": len(p.pending), "waiting_for_version": rules.waiting_for(p)},
        "completed_at": p.completed_at,
        "updated_at": p.updated_at,
    }


def evidence_pack(fiscal_year: int, projects: list[Project], policies: Any) -> dict[str, Any]:
    """Every project that required participation: what was done, with whom, what changed."""
    items = []
    totals = {"projects": 0, "open": 0, "met": 0, "waived": 0, "violations": 0, "participants": 0}
    for p in projects:
        view = project_view(p, policies.for_org(p.org_id))
        totals["projects"] += 1
        totals["violations"] += len(p.violations)
        for r in p.requirements:
            totals[r.status.value] += 1
        totals["participants"] += sum(sum(e.participants.values()) for e in p.evidence)
        items.append(
            {
                key: view[key]
                for key in (
                    "project_id",
                    "name",
                    "budget",
                    "budget_satang",
                    "funding_source",
                    "key_policy",
                    "key_mission",
                    "stage",
                    "rule_reasons",
                    "requirements",
                    "evidence",
                    "violations",
                )
            }
        )
    return {"fiscal_year": fiscal_year, "summary": totals, "projects": items}


GROUP_TH = {
    "citizens": "ประชาชน",
    "community_leaders": "ผู้นำชุมชน",
    "private_sector": "ภาคเอกชน",
    "civil_society": "องค์กรภาคประชาสังคม",
}
STATUS_TH = {"open": "ยังไม่ดำเนินการ", "met": "ดำเนินการแล้ว", "waived": "ได้รับการยกเว้น"}
STAGE_TH = {
    "planning": "วางแผน", "approved": "อนุมัติแล้ว", "procurement": "จัดซื้อจัดจ้าง",
    "contracted": "ลงนามสัญญา", "in_progress": "ระหว่างดำเนินการ", "inspection": "ตรวจรับ",
    "completed": "แล้วเสร็จ", "cancelled": "ยกเลิก",
}  # fmt: skip


def evidence_html(pack: dict[str, Any], org_name: str) -> str:
    e = html.escape
    fy = pack["fiscal_year"]
    s = pack["summary"]
    out = [
        "<!doctype html><html lang='th'><head><meta charset='utf-8'>",
        f"<title>หลักฐานการมีส่วนร่วม ปีงบประมาณ {fy}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:4px;"
        "vertical-align:top}.high{color:#b00}</style></head><body>",
        f"<h1>การมีส่วนร่วมของประชาชนในโครงการ ปีงบประมาณ พ.ศ. {fy}</h1>",
        f"<p>{e(org_name)} — มาตรการที่ 5: โครงการที่เป็นนโยบายสำคัญ ภารกิจสำคัญ"
        " หรือมีงบประมาณเกิน 10 ล้านบาท ต้องให้ประชาชนหรือภาคเอกชนมีส่วนร่วม</p>",
        f"<p>โครงการที่ต้องมีส่วนร่วม {s['projects']} โครงการ · ดำเนินการแล้ว {s['met']}"
        f" · ยังไม่ดำเนินการ {s['open']} · ยกเว้น {s['waived']} · ข้อบกพร่อง {s['violations']}"
        f" · ผู้เข้าร่วมรวม {s['participants']:,} คน</p>",
    ]
    for p in pack["projects"]:
        out.append(f"<h2>{e(p['name'])} <small>({e(p['project_id'])})</small></h2>")
        flags = [
            x for x, on in (("นโยบายสำคัญ", p["key_policy"]), ("ภารกิจสำคัญ", p["key_mission"])) if on
        ]
        out.append(
            f"<p>งบประมาณ {e(p['budget'])} บาท · แหล่งเงิน {e(p['funding_source'])}"
            f" · ขั้นตอน {e(STAGE_TH.get(p['stage'], p['stage']))}"
            + (f" · {e(', '.join(flags))}" if flags else "")
            + "</p>"
        )
        out.append("<table><tr><th>ข้อกำหนด</th><th>ก่อน/หลังขั้น</th><th>สถานะ</th></tr>")
        for r in p["requirements"]:
            note = f" ({e(r['waiver_reason'])})" if r["waiver_reason"] else ""
            when = "ก่อน" if r["due"] == "before" else "หลัง"
            out.append(
                f"<tr><td>{e(r['label_th'])}</td>"
                f"<td>{when}{e(STAGE_TH.get(r['due_stage'], ''))}</td>"
                f"<td>{e(STATUS_TH[r['status']])}{note}</td></tr>"
            )
        out.append("</table>")
        for ev in p["evidence"]:
            who = ", ".join(
                f"{GROUP_TH.get(g, g)} {n:,} คน" for g, n in ev["participants"].items() if n
            )
            held: date = ev["held_on"]
            out.append(
                "<table>"
                f"<tr><th colspan='2'>{e(ev['kind'])} วันที่ {e(format_thai_date(held))}</th></tr>"
                f"<tr><td>ประเด็น</td><td>{'<br>'.join(e(i) for i in ev['issues'])}</td></tr>"
                f"<tr><td>ผู้เข้าร่วม</td><td>{e(who)}</td></tr>"
                f"<tr><td>ผลการมีส่วนร่วม</td><td>{e(ev['results'])}</td></tr>"
                f"<tr><td>การนำผลไปใช้</td><td>{e(ev['changes'])}</td></tr>"
                f"<tr><td>หลักฐาน</td><td>{e(ev['evidence_ref'])}</td></tr>"
                "</table>"
            )
        for v in p["violations"]:
            out.append(
                f"<p class='{e(v['severity'])}'>ข้อบกพร่อง ({e(v['severity'])}):"
                f" {e(v['message'])}</p>"
            )
    out.append("</body></html>")
    return "\n".join(out)


# --------------------------------------------------------------------------- routes


def _bool(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ApiError(400, "bad_query", f"{name} must be true or false")


def _view(handlers: ComplianceHandlers, p: Project) -> dict[str, Any]:
    return project_view(p, handlers.policies.for_org(p.org_id))


async def post_project(request: Request) -> Response:
    """A project of the signed-in person's organisation (the token's `org_id`; a body that
    names another organisation is refused)."""
    handlers, settings = handlers_of(request), settings_of(request)
    who = await principal(request)
    body = RegisterBody.model_validate(await read_object(request, settings.max_body_bytes))
    if body.org_id is not None and body.org_id != who.org_id:
        raise Forbidden("org_id is the signed-in organisation's; leave it out")
    payload = ProjectRegisteredPayload.model_validate(
        body.model_dump(exclude={"org_id", "event_id"})
    )
    project, created = await handlers.register(who.org_id, payload, body.event_id)
    return JSON(_view(handlers, project), status_code=201 if created else 200)


async def post_event(request: Request) -> Response:
    """A manual change of one of the organisation's projects, on the audit trail. Waivers
    lift a legal duty to involve the public: only the executives may grant one."""
    handlers = handlers_of(request)
    who = await principal(request)
    project_id = request.path_params["project_id"]
    data = await read_object(request, settings_of(request).max_body_bytes)
    body = EVENT_BODY.validate_python(data)
    if isinstance(body, WaivedBody) and not who.has(Role.EXECUTIVE):
        raise Forbidden("only the executives (ปลัด, นายก) may waive a participation requirement")
    if body.project_id and body.project_id != project_id:
        raise ApiError(
            422,
            "validation_failed",
            "project_id: differs from the project in the path",
            [{"field": "project_id", "message": "differs from the path", "type": "value_error"}],
        )
    try:
        project, applied = await handlers.record(
            project_id, body, body.event_id, by=who, source=source_of(request)
        )
    except LookupError as exc:  # the handlers' "no such project" is a bare LookupError
        raise ProjectNotFound(f"no project {project_id}") from exc
    return JSON({**_view(handlers, project), "duplicate": not applied})


async def get_project(request: Request) -> Response:
    handlers = handlers_of(request)
    project_id = request.path_params["project_id"]
    project = await handlers.projects.get(project_id)
    if project is None:
        raise ProjectNotFound(f"no project {project_id}")
    return JSON(_view(handlers, project))


async def list_projects(request: Request) -> Response:
    q = request.query_params
    stage = q.get("stage") or None
    if stage is not None and stage not in Stage.__members__.values():
        raise ApiError(400, "bad_query", f"stage must be one of {[s.value for s in Stage]}")
    query = ProjectQuery(
        requires_participation=_bool(q.get("requires_participation"), "requires_participation"),
        fiscal_year=parse_int(fy, "fiscal_year", *FISCAL_YEARS)
        if (fy := q.get("fiscal_year"))
        else None,
        stage=stage,
        org_id=q.get("org_id") or None,
    )
    limit, offset = page(request)
    handlers = handlers_of(request)
    found = await handlers.projects.find(query, limit, offset)
    return JSON({"items": [_view(handlers, p) for p in found], "limit": limit, "offset": offset})


async def get_evidence(request: Request) -> Response:
    handlers = handlers_of(request)
    raw = request.path_params["fiscal_year"]
    as_html = raw.endswith(".html")
    year = raw.removesuffix(".html").removesuffix(".json")
    fiscal_year = int_in(year, *FISCAL_YEARS)
    if fiscal_year is None:
        digits = thai_digits_to_arabic(year)
        if not (digits.isascii() and digits.isdigit()):
            parse_int(year, "fiscal_year", *FISCAL_YEARS)  # raises: not a number at all
        raise ApiError(404, "not_found", f"no evidence pack for fiscal year {year[:12]}")
    found = await handlers.projects.find(
        ProjectQuery(requires_participation=True, fiscal_year=fiscal_year), MAX_PACK, 0
    )
    pack = evidence_pack(fiscal_year, found, handlers.policies)
    if as_html:
        return HTMLResponse(evidence_html(pack, settings_of(request).org_name))
    return JSON(pack)


async def get_audit(request: Request) -> Response:
    """The audit trail of the signed-in organisation, newest first; `action`, `target` and
    `subject` narrow it (`?target=case:SPT-2569-000123`)."""
    handlers = handlers_of(request)
    who = await principal(request)
    q = request.query_params
    query = AuditQuery(
        org_id=who.org_id,
        action=q.get("action") or None,
        target=q.get("target") or None,
        subject=q.get("subject") or None,
    )
    limit, offset = page(request)
    found = await handlers.audit_trail_of().find(query, limit, offset)
    return JSON({"items": [r.model_dump() for r in found], "limit": limit, "offset": offset})


# Projects, evidence packs and their HTML are what measure 1 publishes: open to anyone.
PUBLISHED = anyone("published: projects and participation evidence (measure 1)")
PLANNERS = roles(Role.PLANNER, Role.EXECUTIVE)


def routes() -> list[BaseRoute]:
    return [
        Endpoint("/v1/projects", post_project, ["POST"], PLANNERS),
        Endpoint("/v1/projects", list_projects, ["GET"], PUBLISHED),
        Endpoint("/v1/projects/{project_id}", get_project, ["GET"], PUBLISHED),
        Endpoint("/v1/projects/{project_id}/events", post_event, ["POST"], PLANNERS),
        Endpoint("/v1/evidence/{fiscal_year}", get_evidence, ["GET"], PUBLISHED),
        Endpoint("/v1/audit", get_audit, ["GET"], roles(*OVERSEERS)),
    ]
