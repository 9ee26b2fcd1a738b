"""The quarterly analysis report (measure 3), per department and for the SAO, in Thai.

`build` gathers it from the exact figures, the consultations and the plans: counts,
category codes, village numbers and redacted texts, never a case's words, a name or a
contact, so it may be published. `render_html` lays it out with charts drawn on the
server by matplotlib as SVG (their text kept as text, so the page's Thai font shapes
it), and `render_pdf` prints that page with WeasyPrint, Sarabun embedded.

The hotspot map is the reports' points on the ~100 m grid (longitude across, latitude
up) with the villages' cells marked: no map tiles are fetched, the server may be
offline, and the caption says so.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.insight.domain import plan as plans
from services.insight.domain import rules
from shared import taxonomy
from shared.thai import THAI_MONTHS_SHORT, arabic_to_thai_digits, format_thai_date

if TYPE_CHECKING:
    from services.insight.handlers import InsightHandlers

log = logging.getLogger("ruam.insight.report")
TEMPLATES = Path(__file__).resolve().parent / "templates"
QUARTER_TH = {
    1: "ไตรมาสที่ 1 (ต.ค.–ธ.ค.)",
    2: "ไตรมาสที่ 2 (ม.ค.–มี.ค.)",
    3: "ไตรมาสที่ 3 (เม.ย.–มิ.ย.)",
    4: "ไตรมาสที่ 4 (ก.ค.–ก.ย.)",
}
CONSULTATION_KINDS_TH = {
    "village_forum": "ประชาคมหมู่บ้าน",
    "public_hearing": "การรับฟังความคิดเห็น",
    "focus_group": "การสนทนากลุ่ม",
    "survey_meeting": "การประชุมสำรวจความเห็น",
    "other": "อื่น ๆ",
}
STATUS_TH = {
    "planned": "วางแผนแล้ว",
    "in_progress": "กำลังดำเนินการ",
    "done": "เสร็จแล้ว",
    "dropped": "ยกเลิก",
}
# Sarabun as fontsource ships it: a Thai and a Latin subset per weight. Each is its own
# family here: WeasyPrint keys a PDF font by family and weight, and two files under one
# name share one character map, which garbles the text layer (copying, search, reading
# aloud). The page asks for the Latin one first, and takes Thai letters from the other.
FONT_FILES = (
    ("SarabunLatin", "sarabun-latin-400-normal.woff2", 400),
    ("SarabunThai", "sarabun-thai-400-normal.woff2", 400),
    ("SarabunLatin", "sarabun-latin-700-normal.woff2", 700),
    ("SarabunThai", "sarabun-thai-700-normal.woff2", 700),
)


def category_th(code: str) -> str:
    try:
        return taxonomy.by_code(code).label_th
    except KeyError:
        return "ไม่ระบุ" if code == rules.UNKNOWN else code


def cause_th(code: str) -> str:
    found = [c for c in taxonomy.causes_for(None) + taxonomy.CAUSES if c.code == code]
    return found[0].label_th if found else code


def month_tick(month: str) -> str:
    """'2026-01' -> '01/69': digits only, for a chart (see `_figure`)."""
    return f"{month[5:7]}/{str(int(month[:4]) + 543)[2:]}"


def month_th(month: str) -> str:
    """'2026-01' -> 'ม.ค. 69' (Buddhist Era, short)."""
    year, m = int(month[:4]), int(month[5:7])
    return f"{THAI_MONTHS_SHORT[m - 1]} {str(year + 543)[2:]}"


def quarter_end(fiscal_year: int, quarter: int) -> date:
    last = rules.quarter_months(fiscal_year, quarter)[-1]
    y, m = int(last[:4]), int(last[5:7])
    first_next = date(y + (m == 12), m % 12 + 1, 1)
    return first_next - timedelta(days=1)


async def build(
    h: InsightHandlers, org_id: str, fiscal_year: int, quarter: int, department: str | None
) -> dict[str, Any]:
    """Everything the report shows, as plain data (also what the tests read)."""
    directory = h.directory
    end = min(quarter_end(fiscal_year, quarter), h.today())
    figures = await h.quarter(org_id, fiscal_year, quarter, department)
    months = rules.quarter_months(fiscal_year, quarter)
    by_cat_month = await h.by_value(org_id, "category_month", fiscal_year)
    dept_cats = await h.by_value(org_id, "department_category", fiscal_year)
    dept_key = rules.safe(department) if department else None
    own_categories = {
        k.split("|", 1)[1] for k in dept_cats if dept_key and k.startswith(f"{dept_key}|")
    }

    categories: dict[str, dict[str, int]] = {}
    for key, counts in by_cat_month.items():
        cat, month = key.split("|", 1)
        if month not in months or (department and cat not in own_categories):
            continue
        into = categories.setdefault(cat, {})
        for f, n in counts.items():
            into[f] = into.get(f, 0) + n
    category_rows = sorted(
        (
            {"category": c, "category_th": category_th(c), **rules.rates(v)}
            for c, v in categories.items()
            if v.get("received")
        ),
        key=lambda r: (-int(r["received"]), str(r["category"])),
    )
    spots = [
        s
        for s in await h.hotspots(org_id, end)
        if not department or s["category"] in own_categories
    ]
    season_rows = await h.seasonality(org_id, fiscal_year)
    waves = [
        w
        for w in await h.waves(org_id, fiscal_year)
        if not department or w["category"] in own_categories
    ]
    consultations = [
        c
        for c in await h.find_consultations(org_id, fiscal_year)
        if c.fiscal_quarter == (fiscal_year, quarter)
        and (not department or c.department in (None, department))
    ]
    plan_views = []
    for p in await h.plans.find(org_id, fiscal_year):
        if p.quarter == quarter and (not department or p.department == department):
            plan_views.append(await h.plan_view(p))
    return {
        "org_id": org_id,
        "org_name": directory.name_th or org_id,
        "fiscal_year": fiscal_year,
        "quarter": quarter,
        "quarter_th": QUARTER_TH[quarter],
        "department": department,
        "department_th": directory.departments.get(department, department) if department else None,
        "departments": directory.departments,
        "as_of": end.isoformat(),
        "as_of_th": format_thai_date(end),
        "figures": figures,
        "months": months,
        "months_th": [month_th(m) for m in months],
        "categories": category_rows,
        "reopen": [r for r in category_rows if r["percent_reopened"] is not None and r["reopened"]],
        "causes": await h.causes(org_id, fiscal_year, department),
        "hotspots": spots[:10],
        "seasonality": season_rows,
        "waves": waves,
        "silent_villages": [] if department else await h.silent_villages(org_id, fiscal_year),
        "consultations": [
            {
                "held_on_th": format_thai_date(c.held_on),
                "kind_th": CONSULTATION_KINDS_TH.get(c.kind, c.kind),
                "title": c.title,
                "participants": c.participants,
                "people": c.people,
                "said": list(c.said),
                "village_no": c.village_no,
                "categories": list(c.categories),
                "case_count": len(c.case_ids),
                "raised": await h.raised_at(c),
                "project_ids": list(c.project_ids),
            }
            for c in consultations
        ],
        "plans": plan_views,
    }


async def published(h: InsightHandlers, org_id: str) -> list[dict[str, Any]]:
    """The reports there is something to publish for: every fiscal quarter with cases,
    for the SAO and each department that had cases in it."""
    quarters: dict[tuple[int, int], set[str]] = {}
    for b in await h.figures.find(org_id, "department_month"):
        if not b.counts.get("received"):
            continue
        owner, month = b.value.split("|", 1)
        fy, q = plans.fiscal_quarter(date.fromisoformat(f"{month}-01"))
        quarters.setdefault((fy, q), set()).add(owner)
    rows = []
    for (fy, q), depts in sorted(quarters.items(), reverse=True):
        # only the directory's departments have a report (http._report_key): no dead links
        known = sorted(d for d in depts if d in h.directory.departments)
        choices: list[str | None] = [None, *known]
        for dept in choices:
            base = f"/v1/reports/{fy}/{q}" + (f"/{dept}" if dept else "")
            rows.append(
                {
                    "fiscal_year": fy,
                    "quarter": q,
                    "quarter_th": QUARTER_TH[q],
                    "department": dept,
                    "department_th": h.directory.departments.get(dept, dept)
                    if dept
                    else h.directory.name_th,
                    "html": base + ".html",
                    "pdf": base + ".pdf",
                }
            )
    return rows


# ----------------------------------------------------------------------- charts


BLUE, GREEN, RED, GREY = "#2b8cbe", "#31a354", "#e34a33", "#bdbdbd"


def _svg(fig: Any, name: str) -> str:
    """The figure as an inline <svg>, its ids prefixed: four charts share one page."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', text)
    return re.sub(r"#([A-Za-z][\w.\-]*)\)", rf"#{name}-\1)", text).replace(
        'xlink:href="#', f'xlink:href="#{name}-'
    )


def _figure(width: float, height: float) -> Any:
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    # A chart holds digits and codes only; its Thai (title, legend) is the page's, below
    # it. Neither matplotlib's layout nor WeasyPrint's SVG text shapes Thai: a vowel or
    # tone mark would stand beside its consonant on a dotted circle.
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["font.family"] = ["sans-serif"]
    fig = Figure(figsize=(width, height), dpi=96)
    FigureCanvasSVG(fig)
    return fig


def chart_seasonality(report: dict[str, Any]) -> str:
    rows = report["seasonality"]
    fig = _figure(7.2, 2.8)
    ax = fig.add_subplot()
    x = list(range(len(rows)))
    ax.bar([i - 0.2 for i in x], [r["previous_received"] for r in rows], 0.4, color=GREY,
           label=str(report["fiscal_year"] - 1))  # fmt: skip
    ax.bar([i + 0.2 for i in x], [r["received"] for r in rows], 0.4, color=BLUE,
           label=str(report["fiscal_year"]))  # fmt: skip
    ax.set_xticks(x)
    ax.set_xticklabels([month_tick(r["month"]) for r in rows])
    ax.legend(frameon=False)
    fig.tight_layout()
    return _svg(fig, "seasonality")


def chart_quarter(report: dict[str, Any]) -> str:
    by_month = report["figures"]["by_month"]
    fig = _figure(7.2, 2.6)
    ax = fig.add_subplot()
    x = list(range(len(by_month)))
    ax.bar([i - 0.2 for i in x], [m["received"] for m in by_month], 0.4, color=BLUE)
    ax.bar([i + 0.2 for i in x], [m["resolved"] for m in by_month], 0.4, color=GREEN)
    ax.set_xticks(x)
    ax.set_xticklabels([month_tick(m) for m in report["months"]])
    fig.tight_layout()
    return _svg(fig, "quarter")


def chart_categories(report: dict[str, Any]) -> str:
    rows = report["categories"][:8]
    fig = _figure(7.2, 0.4 + 0.35 * max(len(rows), 1))
    ax = fig.add_subplot()
    y = list(range(len(rows)))
    ax.barh(y, [r["received"] for r in rows], color=BLUE)
    ax.barh(y, [r["reopened"] for r in rows], color=RED)
    ax.set_yticks(y)
    ax.set_yticklabels([r["category"] for r in rows])
    ax.invert_yaxis()
    fig.tight_layout()
    return _svg(fig, "categories")


def chart_hotspots(report: dict[str, Any]) -> str:
    """The hotspots' cells as points sized by reports, numbered as in the table."""
    located = [(i + 1, h) for i, h in enumerate(report["hotspots"]) if h["lat"] is not None]
    fig = _figure(4.2, 3.6)
    ax = fig.add_subplot()
    if located:
        lons = [h["lon"] for _, h in located]
        lats = [h["lat"] for _, h in located]
        ax.scatter(
            lons, lats, s=[40 + 25 * h["reports"] for _, h in located], color="#e34a33", alpha=0.6
        )
        for n, h in located:
            ax.annotate(str(n), (h["lon"], h["lat"]), ha="center", va="center", fontsize=8)
        pad = 0.01
        ax.set_xlim(min(lons) - pad, max(lons) + pad)
        ax.set_ylim(min(lats) - pad, max(lats) + pad)
    ax.ticklabel_format(useOffset=False)
    ax.grid(True, color="#eeeeee")
    ax.set_xlabel("lon")
    ax.set_ylabel("lat")
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return _svg(fig, "hotspots")


# ----------------------------------------------------------------------- HTML and PDF


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["thai_digits"] = lambda v: arabic_to_thai_digits(str(v))
    env.filters["month_th"] = month_th
    env.filters["category_th"] = category_th
    env.filters["cause_th"] = cause_th
    env.globals["COLORS"] = {"blue": BLUE, "green": GREEN, "red": RED, "grey": GREY}
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.1f}%"
    env.filters["num"] = lambda v: (
        "–" if v is None else (f"{v:,.2f}" if isinstance(v, float) else f"{v:,}")
    )
    env.globals["STATUS_TH"] = STATUS_TH
    return env


def font_faces(font_dir: Path) -> str:
    """@font-face rules with Sarabun inlined (data: URIs), so the HTML stands alone and the
    PDF embeds it; without the files (web assets not fetched) the system's Thai font."""
    rules_ = []
    for family, name, weight in FONT_FILES:
        path = font_dir / name
        if not path.exists():
            continue
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        rules_.append(
            f"@font-face{{font-family:'{family}';font-weight:{weight};"
            f"src:url(data:font/woff2;base64,{data}) format('woff2');}}"
        )
    if not rules_:
        log.warning("Sarabun not found in %s: the report uses the system's Thai font", font_dir)
    return "\n".join(rules_)


def render_html(report: dict[str, Any], font_dir: Path) -> str:
    charts = {
        "seasonality": chart_seasonality(report),
        "quarter": chart_quarter(report),
        "categories": chart_categories(report),
        "hotspots": chart_hotspots(report),
    }
    return (
        _environment()
        .get_template("report.html")
        .render(r=report, charts=charts, fonts=font_faces(font_dir))
    )


def render_pdf(report: dict[str, Any], font_dir: Path) -> bytes:
    from weasyprint import HTML

    # SARA AM (U+0E33) is drawn as two glyphs, NIKHAHIT and SARA AA, and WeasyPrint gives
    # the text of a character to one glyph only: the other would read as noise when the
    # PDF is copied or searched. Written as its two parts (its compatibility decomposition,
    # the same letters to a reader), each glyph has its own character.
    html = render_html(report, font_dir).replace("\u0e33", "\u0e4d\u0e32")
    pdf = HTML(string=html).write_pdf()
    assert pdf is not None
    return bytes(pdf)
