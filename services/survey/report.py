"""The fiscal-year satisfaction report (ITA evidence): JSON, HTML with the chart, PNG.

Every figure comes from `SurveyHandlers.satisfaction`, the code behind
GET /v1/satisfaction, so the report and the API cannot disagree.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from services.survey.domain.model import Alert, Tally
from services.survey.domain.rules import fiscal_months, month_label_th
from services.survey.handlers import SurveyHandlers
from services.survey.views import tally_view
from shared.thai import fiscal_year_bounds, format_thai_date

log = logging.getLogger("ruam.survey.report")

RULE_TH = {
    "department_low_satisfaction": "ร้อยละความพึงพอใจต่ำกว่าเกณฑ์",
    "very_dissatisfied": "มีผู้ให้คะแนนไม่พอใจมาก",
    "not_fixed": "ผู้รับบริการแจ้งว่าปัญหายังไม่ได้รับการแก้ไข",
}
STATUS_TH = {
    "requested": "ส่งเรื่องแล้ว รอรับเข้าระบบ",
    "received": "รับเรื่องแล้ว",
    "assigned": "มอบหมายหัวหน้าส่วนราชการแล้ว",
    "acknowledged": "รับทราบแล้ว",
    "in_progress": "กำลังดำเนินการ",
    "pending_citizen": "รอข้อมูลเพิ่มเติม",
    "resolved": "ดำเนินการแล้วเสร็จ",
    "closed": "ปิดเรื่องแล้ว",
    "reopened": "เปิดเรื่องใหม่",
    "transferred": "โอนเรื่อง",
}
# Fonts with Thai glyphs, best first; any one found is used for the chart.
THAI_FONTS = (
    "Sarabun",
    "TH Sarabun New",
    "Noto Sans Thai",
    "Noto Sans Thai Looped",
    "Garuda",
    "Loma",
    "Waree",
    "Norasi",
    "Kinnari",
    "Tlwg Typo",
    "Umpush",
)


def _alert_view(a: Alert, departments: dict[str, str]) -> dict[str, Any]:
    d = a.decision
    return {
        "alert_id": d.alert_id,
        "rule": d.rule,
        "rule_th": RULE_TH.get(d.rule, d.rule),
        "department": d.department,
        "department_th": departments.get(d.department, d.department),
        "description_th": d.description_th,
        "case_id": d.case_id,
        "response_id": d.response_id,
        "window_responses": d.window_responses,
        "window_percent_satisfied": d.window_percent_satisfied,
        "raised_at": a.raised_at,
        "raised_at_th": format_thai_date(a.raised_at),
        "action": {
            "case_id": a.action_case_id,
            "status": a.action_status,
            "status_th": STATUS_TH.get(a.action_status, a.action_status),
            "updated_at": a.action_updated_at,
        },
    }


async def build_report(
    handlers: SurveyHandlers, org_id: str, fiscal_year: int, now: datetime
) -> dict[str, Any]:
    overall = await handlers.satisfaction(org_id, fiscal_year, None)
    departments = await handlers.satisfaction(org_id, fiscal_year, "department")
    channels = await handlers.satisfaction(org_id, fiscal_year, "channel")
    months = await handlers.satisfaction(org_id, fiscal_year, "month")
    by_month = {m["value"]: m for m in months.get("items", [])}
    trend = []
    for month in fiscal_months(fiscal_year):
        item = by_month.get(month)
        trend.append(
            {
                "month": month,
                "label_th": month_label_th(month),
                "responses": item["responses"] if item else 0,
                "overall": item["overall"] if item else tally_view(Tally()),
            }
        )
    labels = handlers.config.labels
    alerts = [
        _alert_view(a, labels.departments)
        for a in await handlers.alerts.of_year(org_id, fiscal_year)
    ]
    actions: dict[str, int] = {}
    for a in alerts:
        actions[a["action"]["status"]] = actions.get(a["action"]["status"], 0) + 1
    start, end = fiscal_year_bounds(fiscal_year)
    total = overall["total"]
    return {
        "org_id": org_id,
        "org_name_th": labels.org_names.get(org_id, org_id),
        "fiscal_year": fiscal_year,
        "period": {
            "start": start,
            "end": end,
            "start_th": format_thai_date(start),
            "end_th": format_thai_date(end.replace(microsecond=0) - timedelta(days=1)),
        },
        "generated_at": now,
        "generated_at_th": format_thai_date(now),
        "responses": total["responses"],
        "overall": total["overall"],
        "dimensions": [q for q in total["questions"] if q["type"] == "scale"],
        "choices": [q for q in total["questions"] if q["type"] == "choice"],
        "departments": departments["items"],
        "channels": channels["items"],
        "months": trend,
        "alerts": alerts,
        "actions_by_status": actions,
    }


# ----------------------------------------------------------------------- chart


@cache
def thai_font() -> str | None:
    """A font family with Thai glyphs, or None (the chart then falls back to English)."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    for name in THAI_FONTS:
        if name in known:
            return name
    # A font installed after matplotlib cached its list is not in it: look on disk.
    for path in font_manager.findSystemFonts():
        lowered = path.lower()
        if any(n.lower().replace(" ", "") in lowered.replace("-", "") for n in THAI_FONTS):
            try:
                font_manager.fontManager.addfont(path)
                return font_manager.FontProperties(fname=path).get_name()
            except (OSError, RuntimeError, ValueError):
                continue
    log.warning("no Thai font found; the satisfaction chart is labelled in English")
    return None


def render_chart(report: dict[str, Any]) -> bytes:
    """Responses per month (bars) and percent satisfied (line) over the fiscal year.

    Drawing is the costly part (docs/storage.md, session 34) and the figures change only
    when a response comes: the picture is remembered by what it shows, so a published page
    read again, by a visitor or a crawler, is not drawn again."""
    months = tuple(
        (m["label_th"], m["month"], m["responses"], m["overall"]["percent_satisfied"])
        for m in report["months"]
    )
    return _drawn(report["fiscal_year"], months, thai_font())


Month = tuple[str, str, int, float | None]


@lru_cache(maxsize=32)
def _drawn(fy: int, months: tuple[Month, ...], font: str | None) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if font:
        xlabels = [m[0] for m in months]
        title = f"แนวโน้มความพึงพอใจรายเดือน ปีงบประมาณ พ.ศ. {fy}"
        left, right, threshold = "จำนวนแบบสำรวจ", "ร้อยละผู้พึงพอใจ (คะแนน 4-5)", "เกณฑ์ 80%"
    else:
        xlabels = [m[1] for m in months]
        title = f"Monthly satisfaction, fiscal year {fy} (BE)"
        left, right, threshold = "responses", "% satisfied (score 4-5)", "80% threshold"
    # The object API (no pyplot): no global state, safe off the event loop thread.
    fig = Figure(figsize=(9, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = list(range(len(months)))
    ax.bar(x, [m[2] for m in months], color="#9ecae1", label=left)
    ax.set_ylabel(left, fontfamily=font) if font else ax.set_ylabel(left)
    ax.set_xticks(x)
    ax.set_xticklabels(xlabels, fontfamily=font) if font else ax.set_xticklabels(xlabels)
    ax2 = ax.twinx()
    points = [(i, m[3]) for i, m in enumerate(months) if m[3] is not None]
    if points:
        ax2.plot(
            [p[0] for p in points], [p[1] for p in points], marker="o", color="#d62728", label=right
        )
    ax2.axhline(80, color="#555555", linestyle="--", linewidth=1, label=threshold)
    ax2.set_ylim(0, 100)
    ax2.set_ylabel(right, fontfamily=font) if font else ax2.set_ylabel(right)
    ax.set_title(title, fontfamily=font) if font else ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# ----------------------------------------------------------------------- HTML


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def render_html(report: dict[str, Any], chart_png: bytes) -> str:
    fy = report["fiscal_year"]
    o = report["overall"]
    chart = base64.b64encode(chart_png).decode("ascii")
    rows_dim = "".join(
        f"<tr><td>{_e(q['label_th'])}</td><td class=n>{q['count']}</td>"
        f"<td class=n>{_fmt(q['mean'])}</td><td class=n>{_fmt(q['percent_satisfied'])}</td></tr>"
        for q in report["dimensions"]
    )
    rows_dep = "".join(
        f"<tr><td>{_e(d['label_th'])}</td><td class=n>{d['responses']}</td>"
        f"<td class=n>{_fmt(d['overall']['mean'])}</td>"
        f"<td class=n>{_fmt(d['overall']['percent_satisfied'])}</td></tr>"
        for d in report["departments"]
    )
    rows_month = "".join(
        f"<tr><td>{_e(m['label_th'])}</td><td class=n>{m['responses']}</td>"
        f"<td class=n>{_fmt(m['overall']['mean'])}</td>"
        f"<td class=n>{_fmt(m['overall']['percent_satisfied'])}</td></tr>"
        for m in report["months"]
    )
    rows_choice = "".join(
        f"<tr><td>{_e(q['label_th'])}</td><td>"
        + ", ".join(f"{_e(k)}: {v}" for k, v in q["distribution"].items())
        + "</td></tr>"
        for q in report["choices"]
    )
    rows_alert = (
        "".join(
            f"<tr><td>{_e(a['raised_at_th'])}</td><td>{_e(a['rule_th'])}</td>"
            f"<td>{_e(a['department_th'])}</td><td>{_e(a['description_th'])}</td>"
            f"<td>{_e(a['action']['case_id'] or '-')}</td>"
            f"<td>{_e(a['action']['status_th'])}</td></tr>"
            for a in report["alerts"]
        )
        or "<tr><td colspan=6>ไม่มีผลการสำรวจที่ต้องปรับปรุงในปีงบประมาณนี้</td></tr>"
    )
    return f"""<!doctype html>
<html lang="th"><head><meta charset="utf-8">
<title>รายงานผลการสำรวจความพึงพอใจ ปีงบประมาณ พ.ศ. {fy}</title>
<style>
body {{ font-family: "Sarabun", "TH Sarabun New", "Noto Sans Thai", "Garuda", sans-serif;
       margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #999; padding: 0.3em 0.6em; vertical-align: top; }}
th {{ background: #eee; }} td.n {{ text-align: right; }}
</style></head><body>
<h1>รายงานผลการสำรวจความพึงพอใจของผู้รับบริการและผู้มีส่วนได้ส่วนเสีย</h1>
<p><b>{_e(report["org_name_th"])}</b><br>
ประจำปีงบประมาณ พ.ศ. {fy} ({_e(report["period"]["start_th"])} - {_e(report["period"]["end_th"])})<br>
จัดทำเมื่อ {_e(report["generated_at_th"])}</p>
<h2>1. สรุปผล</h2>
<table><tr><th>จำนวนแบบสำรวจ</th><th>คะแนนเฉลี่ย (เต็ม 5)</th><th>ร้อยละผู้พึงพอใจ (คะแนน 4-5)</th></tr>
<tr><td class=n id="responses">{report["responses"]}</td>
<td class=n id="mean">{_fmt(o["mean"])}</td>
<td class=n id="percent">{_fmt(o["percent_satisfied"])}</td></tr></table>
<h2>2. ผลรายด้าน</h2>
<table><tr><th>ด้าน</th><th>จำนวนคำตอบ</th><th>คะแนนเฉลี่ย</th><th>ร้อยละผู้พึงพอใจ</th></tr>{rows_dim}</table>
<table><tr><th>คำถาม</th><th>คำตอบ</th></tr>{rows_choice}</table>
<h2>3. ผลรายส่วนราชการ</h2>
<table><tr><th>ส่วนราชการ</th><th>จำนวนแบบสำรวจ</th><th>คะแนนเฉลี่ย</th><th>ร้อยละผู้พึงพอใจ</th></tr>{rows_dep}</table>
<h2>4. แนวโน้มรายเดือน</h2>
<img alt="แนวโน้มความพึงพอใจรายเดือน" src="data:image/png;base64,{chart}">
<table><tr><th>เดือน</th><th>จำนวนแบบสำรวจ</th><th>คะแนนเฉลี่ย</th><th>ร้อยละผู้พึงพอใจ</th></tr>{rows_month}</table>
<h2>5. ข้อแจ้งเตือนและการปรับปรุงการให้บริการ</h2>
<table><tr><th>วันที่</th><th>ประเภท</th><th>ส่วนราชการ</th><th>รายละเอียด</th><th>เลขที่เรื่องปรับปรุง</th><th>สถานะ</th></tr>{rows_alert}</table>
<p>คะแนนเฉลี่ย = ผลรวมคะแนน / จำนวนคำตอบ; ร้อยละผู้พึงพอใจ = คำตอบที่ได้คะแนน 4 หรือ 5 / จำนวนคำตอบ x 100
(มาตราส่วน 1 = ไม่พอใจมาก ถึง 5 = พอใจมาก) นับตามวันที่ผู้รับบริการตอบแบบสำรวจ</p>
</body></html>
"""
