"""The public website: server-rendered pages (Jinja2), open data, and the forms that carry a
citizen's report or survey answer to the service that owns it.

Every page is public (`anyone(...)`): the site shows only the public projections, and its
forms are the citizen's own channel. Thai comes first; `?lang=en` switches to English and
`?digits=thai` to Thai digits, each remembered in a cookie. Every page works without
JavaScript except the map; the map and the charts load their libraries on their own pages.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from services.portal.domain import figures
from services.portal.domain import thai as fmt
from services.portal.domain.figures import CaseFilter
from services.portal.domain.model import (
    DONE_STATUSES,
    Case,
    deadlines,
    is_big,
    month_of,
    resolved_at,
)
from services.portal.domain.texts import STATUS, label
from services.portal.handlers import PortalHandlers, ReportOutcome, WebReport
from services.portal.ports import Reply
from services.portal.settings import PortalSettings
from shared.access import CASE_WORKERS, Endpoint, anyone, roles
from shared.audit import audit_trail
from shared.auth import Forbidden, principal
from shared.http import (
    FISCAL_YEARS,
    JSON,
    MAX_COUNT,
    MAX_PAGE_NUMBER,
    VILLAGES,
    ApiError,
    ErrorTable,
    app_state,
    csv_text,
    int_in,
    read_form,
    retry_after,
    static_file,
)
from shared.limits import Identify, TokenBucket
from shared.qr import qr_svg
from shared.roles import Role
from shared.taxonomy import codes as category_codes
from shared.thai import fiscal_year_be, thai_digits_to_arabic

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Points the map of /cases draws at most (the newest of the filtered cases).
MAX_POINTS = 3000
ERRORS: ErrorTable = {}


def handlers_of(request: Request) -> PortalHandlers:
    return app_state(request, "handlers", PortalHandlers)


def settings_of(request: Request) -> PortalSettings:
    return app_state(request, "settings", PortalSettings)


# --------------------------------------------------------------------------- the page shell


@dataclass
class Ui:
    """The reader's choices (language, digits) and the formatting that follows from them."""

    lang: str
    thai_digits: bool
    path: str
    query: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)  # to remember, on the response

    @classmethod
    def of(cls, request: Request) -> Ui:
        q = dict(request.query_params)
        cookies: dict[str, str] = {}
        lang = request.cookies.get("lang", "th")
        if q.get("lang") in ("th", "en"):
            lang = cookies["lang"] = q["lang"]
        digits = request.cookies.get("digits", "arabic")
        if q.get("digits") in ("thai", "arabic"):
            digits = cookies["digits"] = q["digits"]
        return cls(
            lang if lang in ("th", "en") else "th",
            digits == "thai",
            request.url.path,
            q,
            cookies,
        )

    def tr(self, th: str, en: str) -> str:
        return th if self.lang == "th" else en

    def switch(self, **changes: str) -> str:
        """This page's address with some query parameters changed (the switches)."""
        query = {**{k: v for k, v in self.query.items() if k not in ("lang", "digits")}, **changes}
        return self.path + "?" + urlencode(query)

    def date(self, moment: Any) -> str:
        return fmt.be_date(moment, self.lang, thai_digits=self.thai_digits)

    def datetime(self, moment: datetime | None) -> str:
        return fmt.be_datetime(moment, self.lang, thai_digits=self.thai_digits)

    def num(self, value: float | int | None, places: int = 0) -> str:
        return fmt.number(value, places=places, thai_digits=self.thai_digits)

    def digits(self, text: object) -> str:
        return fmt.digits(str(text), self.thai_digits)

    def baht(self, satang: int) -> str:
        return fmt.baht(satang, thai_digits=self.thai_digits)

    def month(self, month: str) -> str:
        return fmt.month_label(month, self.lang, thai_digits=self.thai_digits)

    def label(self, table: str, code: str | None) -> str:
        return label(table, code, self.lang)

    def category(self, code: str | None) -> str:
        if not code:
            return self.tr("ยังไม่จัดหมวด", "Not yet categorised")
        from shared.taxonomy import by_code

        try:
            found = by_code(code)
        except KeyError:
            return code
        return found.label_th if self.lang == "th" else found.label_en


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    ui = Ui.of(request)
    handlers = handlers_of(request)
    handlers.metrics.pages.labels(template.removesuffix(".html")).inc()
    html = TEMPLATES.get_template(template).render(
        ui=ui, tr=ui.tr, site=handlers.site, settings=settings_of(request), **context
    )
    response = HTMLResponse(html, status_code=status)
    for name, value in ui.cookies.items():
        response.set_cookie(name, value, max_age=365 * 86_400, samesite="lax", httponly=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # A survey link's token stays on this site; no other site frames a form of ours.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.update(retry_after(status))
    return response


def _now(request: Request) -> datetime:
    return handlers_of(request).clock.now()


def _fiscal_year(request: Request) -> int:
    """`?fy=2569`, or the year the page opens on (figures.shown_year)."""
    if (asked := int_in(request.query_params.get("fy"), *FISCAL_YEARS)) is not None:
        return asked
    cases = handlers_of(request).model.cases.values()
    return figures.shown_year(figures.case_years(cases), fiscal_year_be(_now(request)))


# --------------------------------------------------------------------------- home


async def home(request: Request) -> Response:
    handlers = handlers_of(request)
    model = handlers.model
    now = _now(request)
    current = fiscal_year_be(now)

    def compute() -> figures.YearNumbers:
        fiscal_year = figures.shown_year(figures.case_years(model.cases.values()), current)
        answered = figures.shown_year({f.fiscal_year for f in model.facts.values()}, current)
        return figures.year_numbers(
            model.cases.values(), model.facts.values(), fiscal_year, now, answered
        )

    # A deadline passes with the clock: the figures are good for the minute.
    numbers = handlers.memo(("home", _minute(now)), compute)
    return render(request, "home.html", numbers=numbers, current=current)


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


# --------------------------------------------------------------------------- tracking


def _case_number(raw: str) -> str:
    return thai_digits_to_arabic(raw).strip().upper().replace(" ", "")


async def track(request: Request) -> Response:
    """The tracking form; with `?case=` the case itself (or the not-found page)."""
    wanted = _case_number(request.query_params.get("case", ""))
    if not wanted:
        return render(request, "track.html")
    return _case_page(request, wanted)


async def track_case(request: Request) -> Response:
    return _case_page(request, _case_number(request.path_params["case_id"]))


def _case_page(request: Request, case_id: str) -> Response:
    handlers = handlers_of(request)
    case = handlers.model.cases.get(case_id)
    if case is None or case.kind.value == "improvement_action":
        return render(request, "track_missing.html", status=404, case_id=case_id[:40])
    link = f"{settings_of(request).site_url}/track/{case.case_id}"
    qr = qr_svg(link, scale=3, title=case.case_id)
    return render(
        request,
        "track_case.html",
        case=case,
        deadlines=deadlines(case, _now(request)),
        resolved_at=resolved_at(case),
        done=case.status in DONE_STATUSES,
        link=link,
        qr=Markup(qr),
    )


# --------------------------------------------------------------------------- public cases


def _chosen(request: Request) -> tuple[CaseFilter, list[Case]]:
    chosen = CaseFilter.of(dict(request.query_params))
    return chosen, figures.listed(handlers_of(request).model.cases.values(), chosen)


async def cases(request: Request) -> Response:
    chosen, found = _chosen(request)
    wanted = int_in(request.query_params.get("page"), 1, MAX_PAGE_NUMBER) or 1
    shown, page, pages = figures.page_of(found, wanted, settings_of(request).page_size)
    # [id, lat, lon, status] per point and the status names once: a thousand points stay
    # a few dozen kilobytes of the page.
    located = [
        [c.case_id, c.lat, c.lon, c.status]
        for c in found
        if c.lat is not None and c.lon is not None
    ]
    lang = Ui.of(request).lang
    model = handlers_of(request).model
    months = sorted({month_of(c.received_at) for c in model.cases.values()}, reverse=True)
    settings = settings_of(request)
    map_data = {
        "points": located[:MAX_POINTS],
        "statuses": {code: label("status", code, lang) for code in STATUS},
        "tiles": settings.tile_url,
        "attribution": settings.tile_attribution,
        "center": list(handlers_of(request).site.map_center),
        "zoom": handlers_of(request).site.map_zoom,
    }
    return render(
        request,
        "cases.html",
        chosen=chosen,
        total=len(found),
        shown=shown,
        page=page,
        pages=pages,
        located=len(located),
        map_json=Markup(_script_json(map_data)),
        categories=sorted({c.category for c in model.cases.values() if c.category}),
        statuses=list(STATUS),
        months=months,
        filter_query=urlencode(chosen.query()),
    )


def _script_json(data: Any) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


async def cases_csv(request: Request) -> Response:
    _, found = _chosen(request)
    now = _now(request)
    names = [f[0] for f in figures.FIELDS]
    records = (figures.record(case, now) for case in found)
    # Case texts are what citizens wrote: opened in a spreadsheet, none may run as a formula.
    text = csv_text(names, ([r[n] for n in names] for r in records), bom=True)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
    )


async def cases_json(request: Request) -> Response:
    chosen, found = _chosen(request)
    now = _now(request)
    return JSON(
        {
            "filters": chosen.query(),
            "count": len(found),
            "fields": [f[0] for f in figures.FIELDS],
            "items": [figures.record(c, now) for c in found],
        }
    )


async def data_dictionary(request: Request) -> Response:
    return render(request, "data_dictionary.html", fields=figures.FIELDS)


# --------------------------------------------------------------------------- statistics


async def stats(request: Request) -> Response:
    handlers = handlers_of(request)
    model = handlers.model
    fiscal_year = _fiscal_year(request)
    now = _now(request)
    current = fiscal_year_be(now)
    year = handlers.memo(
        ("stats", fiscal_year),
        lambda: figures.year_stats(model.cases.values(), model.facts.values(), fiscal_year),
    )
    numbers = handlers.memo(
        ("numbers", fiscal_year, _minute(now)),
        lambda: figures.year_numbers(model.cases.values(), model.facts.values(), fiscal_year, now),
    )
    ui = Ui.of(request)
    site = handlers_of(request).site
    chart = {
        "category": {
            "labels": [ui.category(c) for c, _ in year.by_category],
            "values": [n for _, n in year.by_category],
        },
        "village": {
            "labels": [site.village(v, ui.lang) for v, _ in year.by_village],
            "values": [n for _, n in year.by_village],
        },
        "month": {
            "labels": [ui.month(m) for m, _, _ in year.by_month],
            "received": [r for _, r, _ in year.by_month],
            "resolved": [d for _, _, d in year.by_month],
        },
        "resolve": {
            "labels": [_band(b, ui) for b, _ in year.resolve_bands],
            "values": [n for _, n in year.resolve_bands],
        },
        "labels": {
            "received": ui.tr("รับเรื่อง", "Received"),
            "resolved": ui.tr("แล้วเสร็จ", "Resolved"),
            "cases": ui.tr("จำนวนเรื่อง", "Cases"),
        },
    }
    years = figures.fiscal_years(model.cases.values(), model.facts.values(), current)
    answered_years = sorted({f.fiscal_year for f in model.facts.values()}, reverse=True)
    return render(
        request,
        "stats.html",
        answered_years=answered_years,
        year=year,
        numbers=numbers,
        fiscal_year=fiscal_year,
        years=years,
        chart_json=Markup(_script_json(chart)),
        band=lambda b: _band(b, ui),
    )


def _band(band: tuple[int, int | None], ui: Ui) -> str:
    low, high = band
    if high is None:
        return ui.tr(f"เกิน {ui.num(low)} วัน", f"over {low} days")
    return ui.tr(f"{ui.num(low)}–{ui.num(high)} วัน", f"{low}–{high} days")


# --------------------------------------------------------------------------- projects


async def projects(request: Request) -> Response:
    model = handlers_of(request).model
    listed = sorted(
        model.projects.values(), key=lambda p: (-p.fiscal_year, -p.budget_satang, p.project_id)
    )
    return render(request, "projects.html", projects=listed, is_big=is_big)


async def project(request: Request) -> Response:
    found = handlers_of(request).model.projects.get(request.path_params["project_id"])
    if found is None:
        return render(request, "not_found.html", status=404)
    upcoming = [r for r in found.requirements if r.status == "open"]
    return render(
        request,
        "project.html",
        project=found,
        big=is_big(found),
        upcoming=upcoming,
    )


# --------------------------------------------------------------------------- surveys


def _answers(form: dict[str, str], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """The form's fields as the survey service takes them: scales as numbers."""
    answers: dict[str, Any] = {}
    for q in questions:
        value = (form.get(q["id"]) or "").strip()
        if not value:
            continue
        if q["type"] == "scale":
            # Not a number: sent as typed, for the survey service to say what is wrong.
            number = int_in(value, 0, MAX_COUNT)
            answers[q["id"]] = value if number is None else number
        else:
            answers[q["id"]] = value
    return answers


SURVEY_MESSAGES = {
    404: (
        "ไม่พบแบบสอบถามนี้ กรุณาตรวจสอบลิงก์ที่ได้รับอีกครั้ง",
        "This survey was not found: check the link you received.",
    ),
    409: (
        "ท่านได้ตอบแบบสอบถามนี้ไปแล้ว ขอบคุณที่ให้ความร่วมมือ",
        "This survey was answered already. Thank you.",
    ),
    410: ("แบบสอบถามนี้หมดเวลาตอบแล้ว", "This survey has expired and can no longer be answered."),
    503: (
        "ขณะนี้ระบบแบบสอบถามขัดข้อง กรุณาลองใหม่อีกครั้งในภายหลัง",
        "The survey service is unavailable: please try again later.",
    ),
}
CAMPAIGN_MESSAGES = {
    **SURVEY_MESSAGES,
    404: ("ไม่พบการสำรวจนี้", "This survey campaign was not found."),
    409: (
        "การสำรวจนี้ปิดรับคำตอบแล้ว หรือคำตอบนี้ถูกบันทึกไปแล้ว",
        "This campaign is closed, or this answer was recorded already.",
    ),
}


def _survey_message(
    request: Request, reply: Reply, messages: dict[int, tuple[str, str]]
) -> Response:
    status = reply.status if reply.status in messages else 503
    th, en = messages[status]
    return render(request, "survey_message.html", status=status, message_th=th, message_en=en)


def _field_errors(reply: Reply) -> dict[str, str]:
    details = reply.body.get("details", []) if isinstance(reply.body, dict) else []
    out = {}
    for d in details:
        name = str(d.get("field", "")).removeprefix("answers.")
        out[name or "form"] = str(d.get("message", ""))
    return out or {"form": "invalid"}


async def survey_page(request: Request) -> Response:
    token = request.path_params["token"]
    reply = await handlers_of(request).survey(token)
    if reply.status != 200 or not isinstance(reply.body, dict):
        return _survey_message(request, reply, SURVEY_MESSAGES)
    if reply.body.get("status") == "answered":
        return _survey_message(request, Reply(409), SURVEY_MESSAGES)
    return render(
        request, "survey.html", survey=reply.body, values={}, errors={}, action=request.url.path
    )


async def survey_answer(request: Request) -> Response:
    token = request.path_params["token"]
    handlers = handlers_of(request)
    form = await _small_form(request)
    shown = await handlers.survey(token)
    if shown.status != 200 or not isinstance(shown.body, dict):
        return _survey_message(request, shown, SURVEY_MESSAGES)
    reply = await handlers.answer_survey(token, _answers(form, shown.body["questions"]))
    return _answered(request, reply, shown.body, form, SURVEY_MESSAGES)


async def campaign_page(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    reply = await handlers_of(request).campaign(campaign_id)
    if reply.status != 200 or not isinstance(reply.body, dict):
        return _survey_message(request, reply, CAMPAIGN_MESSAGES)
    # A retried post of the same form is one answer (the survey service's submission_id).
    return render(
        request,
        "survey.html",
        survey=reply.body,
        values={"submission_id": secrets.token_urlsafe(16)},
        errors={},
        action=request.url.path,
    )


async def campaign_answer(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    handlers = handlers_of(request)
    form = await _small_form(request)
    shown = await handlers.campaign(campaign_id)
    if shown.status != 200 or not isinstance(shown.body, dict):
        return _survey_message(request, shown, CAMPAIGN_MESSAGES)
    submission_id = form.get("submission_id", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", submission_id):
        submission_id = ""
    reply = await handlers.answer_campaign(
        campaign_id, _answers(form, shown.body["questions"]), submission_id
    )
    return _answered(request, reply, shown.body, form, CAMPAIGN_MESSAGES)


def _answered(
    request: Request,
    reply: Reply,
    survey: dict[str, Any],
    form: dict[str, str],
    messages: dict[int, tuple[str, str]],
) -> Response:
    """What the survey service said of an answer: thanks, the form again with what to fix
    (422), or its other refusals in plain Thai."""
    if reply.status in (200, 201):
        return render(request, "survey_done.html", status=201)
    if reply.status == 422:
        return render(
            request,
            "survey.html",
            status=422,
            survey=survey,
            values=form,
            errors=_field_errors(reply),
            action=request.url.path,
        )
    return _survey_message(request, reply, messages)


async def _small_form(request: Request) -> dict[str, str]:
    form = await read_form(request, 100_000, max_fields=100)
    return {k: v for k, v in form.items() if isinstance(v, str)}


# --------------------------------------------------------------------------- the web form


class ReportLimit:
    """Reports per client address (shared.limits' bucket): a burst, then one a while."""

    def __init__(self, settings: PortalSettings) -> None:
        self.bucket = TokenBucket(
            1.0 / max(settings.report_every_seconds, 0.001), max(settings.report_burst, 1)
        )
        self.identify = Identify(proxy_hops=settings.trusted_proxy_hops)

    def wait(self, request: Request) -> float:
        return self.bucket.take(self.identify.ip_key(self.identify.address(request.scope)))


def _report_page(
    request: Request,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, tuple[str, str]] | None = None,
) -> Response:
    challenge = handlers_of(request).challenge()
    return render(
        request,
        "report.html",
        status=status,
        values=values or {},
        errors=errors or {},
        challenge=challenge,
        categories=[c for c in category_codes() if c not in ("corruption",)],
        max_photo_mb=settings_of(request).max_photo_bytes / 1_000_000,
    )


async def report_form(request: Request) -> Response:
    return _report_page(request)


def _float(value: str) -> float | None:
    text = thai_digits_to_arabic(value.strip())
    try:
        return float(text) if text else None
    except ValueError:
        return None


async def report_submit(request: Request) -> Response:
    settings = settings_of(request)
    handlers = handlers_of(request)
    limit: ReportLimit = request.app.state.report_limit
    wait = limit.wait(request)
    if wait > 0:
        seconds = max(1, int(wait) + 1)
        response = render(
            request,
            "report.html",
            status=429,
            values={},
            errors={
                "form": (
                    f"ส่งเรื่องถี่เกินไป กรุณารอประมาณ {seconds} วินาทีแล้วลองใหม่",
                    f"Too many reports: please wait about {seconds} s and try again",
                )
            },
            challenge=handlers.challenge(),
            categories=[c for c in category_codes() if c != "corruption"],
            max_photo_mb=settings.max_photo_bytes / 1_000_000,
        )
        response.headers.update(retry_after(429, seconds))
        return response
    try:
        form = await read_form(request, settings.max_form_bytes, max_files=1, max_fields=30)
    except ApiError as refused:
        if refused.status == 413:
            error = ("ไฟล์ใหญ่เกินกำหนด", "The upload is too large")
            return _report_page(request, 413, errors={"photo": error})
        error = ("ส่งแบบฟอร์มไม่สำเร็จ กรุณากรอกและส่งใหม่", "The form could not be read: send it again")
        return _report_page(request, refused.status, errors={"form": error})
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    errors: dict[str, tuple[str, str]] = {}
    photo: bytes | None = None
    upload = form.get("photo")
    if isinstance(upload, UploadFile) and upload.filename:
        photo = await upload.read(settings.max_photo_bytes + 1)
        if len(photo) > settings.max_photo_bytes:
            errors["photo"] = (
                f"รูปภาพต้องมีขนาดไม่เกิน {settings.max_photo_bytes / 1_000_000:.0f} MB",
                f"The photo must be at most {settings.max_photo_bytes / 1_000_000:.0f} MB",
            )
            photo = None
        elif not photo:
            photo = None
    if not values.get("text", "").strip():  # said with the other mistakes, all at once
        errors["text"] = ("กรุณาเล่าเรื่องที่ต้องการแจ้ง", "Please describe the matter")
    if not handlers.human_passes(values.get("human_token", ""), values.get("human_answer", "")):
        errors["human_answer"] = ("คำตอบไม่ถูกต้อง กรุณาคำนวณใหม่", "Wrong answer: please try again")
    lat, lon = _float(values.get("lat", "")), _float(values.get("lon", ""))
    if (lat is None) != (lon is None) or (
        lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180)
    ):
        errors["lat"] = ("กรุณาระบุทั้งละติจูดและลองจิจูดให้ถูกต้อง", "Give both latitude and longitude")
    village = int_in(values.get("village"), *VILLAGES)
    category = values.get("category", "").strip()
    if category and category not in category_codes():
        category = ""
    if errors:
        return _report_page(request, 422, values, errors)
    outcome: ReportOutcome = await handlers.report(
        WebReport(
            text=values.get("text", ""),
            category=category or None,
            village_no=village,
            lat=lat,
            lon=lon,
            photo=photo,
            name=values.get("contact_name", "").strip()[:200] or None,
            phone=values.get("contact_phone", "").strip()[:40] or None,
            email=values.get("contact_email", "").strip()[:254] or None,
            consent=values.get("consent") == "yes",
            form_token=values.get("human_token", ""),
        )
    )
    if outcome.case_id is None:
        return _report_page(request, outcome.status, values, outcome.errors)
    return render(
        request,
        "report_done.html",
        status=202,
        case_id=outcome.case_id,
        located_by_photo=outcome.located_by_photo,
    )


# --------------------------------------------------------------------------- ITA downloads


def _announcements(settings: PortalSettings) -> list[Path]:
    folder = settings.announcement_dir
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("announcement*") if p.is_file())


async def ita(request: Request) -> Response:
    current = fiscal_year_be(_now(request))
    model = handlers_of(request).model
    years = figures.fiscal_years(model.cases.values(), model.facts.values(), current)
    years = sorted({*years, *(p.fiscal_year for p in model.projects.values())}, reverse=True)
    return render(
        request,
        "ita.html",
        years=years,
        announcements=[p.name for p in _announcements(settings_of(request))],
    )


async def ita_announcement(request: Request) -> Response:
    wanted = request.path_params["name"]
    found = next((p for p in _announcements(settings_of(request)) if p.name == wanted), None)
    if found is None:
        return render(request, "not_found.html", status=404)
    return render(request, "announcement.html", name=found.name, text=found.read_text("utf-8"))


async def _pass_on(request: Request, service: str, path: str) -> Response:
    reply = await handlers_of(request).upstream.request(
        service, "GET", path, headers={"Accept": "text/html"}
    )
    if reply.status != 200:
        status = 404 if reply.status == 404 else 503
        th, en = (
            ("ไม่พบเอกสารนี้", "No such document")
            if status == 404
            else ("ขณะนี้ดาวน์โหลดไม่ได้ กรุณาลองใหม่ภายหลัง", "Unavailable: try again later")
        )
        return render(request, "survey_message.html", status=status, message_th=th, message_en=en)
    return Response(reply.content, media_type=reply.content_type or "text/html")


def _year_param(request: Request) -> int | None:
    return int_in(request.path_params["fiscal_year"], *FISCAL_YEARS)


async def ita_satisfaction(request: Request) -> Response:
    if (year := _year_param(request)) is None:
        return render(request, "not_found.html", status=404)
    return await _pass_on(request, "survey", f"/v1/reports/satisfaction/{year}")


async def ita_evidence(request: Request) -> Response:
    if (year := _year_param(request)) is None:
        return render(request, "not_found.html", status=404)
    return await _pass_on(request, "compliance", f"/v1/evidence/{year}.html")


async def ita_insight(request: Request) -> Response:
    """The quarterly analysis reports (measure 3) insight publishes: counts and redacted
    texts only, listed by insight's public endpoint and passed on as they are."""
    reply = await handlers_of(request).upstream.request("insight", "GET", "/v1/reports")
    if reply.status != 200 or not isinstance(reply.body, dict):
        th, en = "ขณะนี้แสดงรายงานไม่ได้ กรุณาลองใหม่ภายหลัง", "Unavailable: try again later"
        return render(request, "survey_message.html", status=503, message_th=th, message_en=en)
    return render(request, "ita_insight.html", reports=list(reply.body.get("reports") or []))


async def ita_insight_report(request: Request) -> Response:
    quarter = request.path_params["quarter"]
    department = request.query_params.get("department", "")
    if (
        (year := _year_param(request)) is None
        or quarter not in ("1", "2", "3", "4")
        or not (department == "" or re.fullmatch(r"[a-z][a-z0-9_\-]{0,39}", department))
    ):
        return render(request, "not_found.html", status=404)
    kind = "pdf" if request.query_params.get("format") == "pdf" else "html"
    path = f"/v1/reports/{year}/{quarter}" + (f"/{department}" if department else "")
    return await _pass_on(request, "insight", f"{path}.{kind}")


def missing_page(request: Request, error: ApiError) -> Response | None:
    """A mistyped address in a browser: the site's own Thai page, not the API's JSON."""
    if error.status != 404:
        return None
    return render(request, "not_found.html", status=404)


# --------------------------------------------------------------------------- static files


async def static(request: Request) -> Response:
    """The site's own styles and scripts, and the vendored libraries and fonts."""
    return static_file(STATIC, request.path_params["path"], max_age=86_400)


# --------------------------------------------------------------------------- for officers


async def photo(request: Request) -> Response:
    """A web-form photo, for the officers of its case's department and the executives; each
    look recorded on the audit trail first (a photo may show people and houses)."""
    who = await principal(request)
    handlers = handlers_of(request)
    photo_id = request.path_params["photo_id"]
    found = await handlers.photos.get(photo_id)
    if found is None:
        raise ApiError(404, "not_found", f"no photo {photo_id}")
    jpeg, case_id = found
    case = handlers.model.cases.get(case_id) if case_id else None
    mine = case is not None and case.department is not None and case.department == who.department
    if not (who.has(Role.EXECUTIVE) or mine):
        raise Forbidden("the photo of a case of another department")
    await audit_trail(request).record(who, request, "photo.read", f"case:{case_id or '-'}")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


PUBLIC = anyone("the public website: published figures and redacted cases only (measure 1)")
FORMS = anyone("the citizen's own channel: rate-limited, with a human check or the survey token")
ASSETS = anyone("the site's styles, scripts and fonts")


def routes() -> list[BaseRoute]:
    return [
        Endpoint("/", home, ["GET"], PUBLIC),
        Endpoint("/track", track, ["GET"], PUBLIC),
        Endpoint("/track/{case_id}", track_case, ["GET"], PUBLIC),
        Endpoint("/cases", cases, ["GET"], PUBLIC),
        Endpoint("/cases.csv", cases_csv, ["GET"], PUBLIC),
        Endpoint("/cases.json", cases_json, ["GET"], PUBLIC),
        Endpoint("/data-dictionary", data_dictionary, ["GET"], PUBLIC),
        Endpoint("/stats", stats, ["GET"], PUBLIC),
        Endpoint("/projects", projects, ["GET"], PUBLIC),
        Endpoint("/projects/{project_id}", project, ["GET"], PUBLIC),
        Endpoint("/survey/{token}", survey_page, ["GET"], FORMS),
        Endpoint("/survey/{token}", survey_answer, ["POST"], FORMS),
        Endpoint("/campaigns/{campaign_id}", campaign_page, ["GET"], FORMS),
        Endpoint("/campaigns/{campaign_id}", campaign_answer, ["POST"], FORMS),
        Endpoint("/report", report_form, ["GET"], FORMS),
        Endpoint("/report", report_submit, ["POST"], FORMS),
        Endpoint("/ita", ita, ["GET"], PUBLIC),
        Endpoint("/ita/announcement/{name}", ita_announcement, ["GET"], PUBLIC),
        Endpoint("/ita/satisfaction/{fiscal_year}", ita_satisfaction, ["GET"], PUBLIC),
        Endpoint("/ita/evidence/{fiscal_year}", ita_evidence, ["GET"], PUBLIC),
        Endpoint("/ita/insight", ita_insight, ["GET"], PUBLIC),
        Endpoint("/ita/insight/{fiscal_year}/{quarter}", ita_insight_report, ["GET"], PUBLIC),
        Endpoint("/static/{path:path}", static, ["GET"], ASSETS),
        Endpoint("/v1/photos/{photo_id}", photo, ["GET"], roles(*CASE_WORKERS)),
    ]
