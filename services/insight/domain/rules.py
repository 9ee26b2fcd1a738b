"""How events become a case's facts, facts become figures, and figures are added up. Pure.

The figures are exact and incremental: each case counts in its buckets as its
`contribution` (a function of its facts alone), and each event adds to the buckets the
difference between the case's contribution after and before it. Those differences
telescope, so the buckets always hold the sum of every case's current contribution,
which is what `recompute` computes from the raw events in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.insight.domain.model import (
    Bucket,
    CaseFacts,
    CaseRecord,
    Contribution,
    Counts,
    Response,
)
from shared.events.cases import (
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseReceived,
    CaseResolved,
    CaseStatusChanged,
    Channel,
    Kind,
)
from shared.events.survey import SurveyResponded
from shared.thai import fiscal_year_be, to_bangkok

CaseEvent = (
    CaseReceived | CaseAssigned | CaseStatusChanged | CaseResolved | CaseClosed | CaseEscalated
)
Event = CaseEvent | SurveyResponded

# A status at or past one of these means an officer has taken the matter up.
TAKEN_UP = frozenset({"acknowledged", "in_progress", "pending_citizen", "resolved", "closed"})
REOPENED = "reopened"
# A bucket remembers the tokens of its last changes; a change is retried within seconds
# (a redelivery after a crash), long before 500 other changes reach the same bucket.
KEEP_TOKENS = 500
SATISFIED_MEAN = 4  # a response whose scale answers average 4 of 5 or more
# ~100 m: a thousandth of a degree is 111 m north-south, 107 m east-west at 15° N.
GRID_PER_DEGREE = 1000
UNKNOWN = "-"
_UNSAFE = re.compile(r"[^0-9A-Za-z_\-ก-๙]")

# The dimensions a case is counted in, each within its fiscal year.
DIMS = (
    "org",
    "department",
    "category",
    "village",
    "month",
    "department_month",
    "category_month",
    "department_category",
)
SPOT = "spot"  # a category at one grid cell (or village), by day, across years
# a category's reports linked as likely duplicates of one first report, by day, across
# years: each case is in the one named by its own link (else its own id), so the first
# report and its duplicates meet in one bucket whatever order their events come in
LINK = "link"
# the matters raised at one public meeting (intake's activity), across years
ACTIVITY = "activity"
# The fewest reports that make a hotspot: one report is a report, not a pattern.
HOTSPOT_MIN = 2


def safe(value: str) -> str:
    """A value fit for a document key or an id part: no `.`, `$` or `|`."""
    return _UNSAFE.sub("_", value) or UNKNOWN


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def _earliest(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if parse(a) <= parse(b) else b


def fold(facts: CaseFacts, event: Event) -> CaseFacts:
    """The facts after one more event: commutative, so the order events arrive in never
    changes the result (see the module note of model.py)."""
    if isinstance(event, CaseReceived):
        p = event.payload
        loc = p.location
        cell = None
        if loc is not None and loc.lat is not None and loc.lon is not None:
            cell = (round(loc.lat * GRID_PER_DEGREE), round(loc.lon * GRID_PER_DEGREE))
        activity = p.links.get("activity_id") if p.channel is Channel.MEETING else None
        return replace(
            facts,
            kind=p.kind.value,
            received_at=iso(p.received_at),
            village_no=loc.village_no if loc is not None else None,
            cell=cell,
            activity_id=activity,
        )
    if isinstance(event, CaseAssigned):
        a = event.payload
        received = facts.received_at or iso(a.received_at)
        linked = facts.linked_to
        root = a.duplicate_root or a.likely_duplicate_of
        if root and (linked is None or root < linked):
            linked = root
        if a.assignment_no < facts.assignment_no:
            return replace(
                facts, received_at=received, kind=facts.kind or a.kind.value, linked_to=linked
            )
        return replace(
            facts,
            kind=facts.kind or a.kind.value,
            received_at=received,
            linked_to=linked,
            department=a.department,
            assigned_category=a.categories[0].code if a.categories else None,
            assignment_no=a.assignment_no,
            respond_due_at=iso(a.respond_due_at) if a.respond_due_at else None,
        )
    if isinstance(event, CaseStatusChanged):
        s = event.payload
        if s.to_status == REOPENED:
            return replace(facts, reopen_seqs=facts.reopen_seqs | {s.seq})
        if s.to_status in TAKEN_UP:
            return replace(
                facts, acknowledged_at=_earliest(facts.acknowledged_at, iso(event.occurred_at))
            )
        return facts
    if isinstance(event, CaseResolved):
        r = event.payload
        taken_up = _earliest(facts.acknowledged_at, iso(r.resolved_at))
        if r.seq < facts.resolved_seq:
            return replace(facts, acknowledged_at=taken_up)
        return replace(
            facts,
            kind=facts.kind or r.kind.value,
            received_at=facts.received_at or iso(r.received_at),
            acknowledged_at=taken_up,
            department=facts.department or r.department,
            resolved_at=iso(r.resolved_at),
            resolved_seq=r.seq,
            resolved_category=r.category,
            cause=r.cause,
        )
    if isinstance(event, CaseClosed):
        return replace(facts, closed=True)
    if isinstance(event, CaseEscalated):
        levels = facts.escalation_levels | {event.payload.level}
        return replace(facts, escalation_levels=levels)
    if isinstance(event, SurveyResponded):
        sr = event.payload
        if any(x.response_id == sr.response_id for x in facts.responses):
            return facts
        scores = [a.value for a in sr.answers if a.type == "scale" and isinstance(a.value, int)]
        if not scores:
            return facts
        added = Response(sr.response_id, sum(scores), len(scores))
        return replace(
            facts,
            department=facts.department or sr.department,
            responses=tuple(sorted((*facts.responses, added), key=lambda x: x.response_id)),
        )
    raise TypeError(f"not an insight event: {type(event).__name__}")  # pragma: no cover


def case_of(event: Event) -> str | None:
    if isinstance(event, SurveyResponded):
        return event.payload.case_id if event.payload.source == "case" else None
    return event.payload.case_id


def month_of(moment: datetime) -> str:
    return to_bangkok(moment).strftime("%Y-%m")


def bucket_id(org_id: str, fiscal_year: int, dim: str, value: str) -> str:
    return f"{org_id}|{fiscal_year}|{dim}|{value}"


def spot_id(org_id: str, category: str, place: str) -> str:
    return f"{org_id}|0|{SPOT}|{category}|{place}"


def link_id(org_id: str, category: str, root: str) -> str:
    return f"{org_id}|0|{LINK}|{category}|{safe(root)}"


def activity_id(org_id: str, activity: str) -> str:
    return f"{org_id}|0|{ACTIVITY}|{safe(activity)}"


def place_of(facts: CaseFacts) -> str | None:
    """Where a report is, for hotspots: its ~100 m grid cell, else its village."""
    if facts.cell is not None:
        return f"g{facts.cell[0]}_{facts.cell[1]}"
    if facts.village_no is not None:
        return f"v{facts.village_no}"
    return None


def figures_of(facts: CaseFacts) -> Counts:
    """What one case adds to each slice it belongs to."""
    assert facts.received_at is not None
    received = parse(facts.received_at)
    counts: Counts = {"received": 1}
    if facts.acknowledged_at is not None:
        counts["acknowledged"] = 1
        counts["ack_seconds"] = max(
            0, int((parse(facts.acknowledged_at) - received).total_seconds())
        )
    if facts.resolved_at is not None:
        resolved = parse(facts.resolved_at)
        counts["resolved"] = 1
        counts["resolve_seconds"] = max(0, int((resolved - received).total_seconds()))
        if facts.respond_due_at is not None:
            counts["with_deadline"] = 1
            counts["within_deadline"] = int(resolved <= parse(facts.respond_due_at))
        if facts.cause:
            counts[f"cause_{safe(facts.cause)}"] = 1
    if facts.reopen_seqs:
        counts["reopened"] = 1
    if facts.closed:
        counts["closed"] = 1
    if facts.escalation_levels:
        # escalated past the deadline at all, and how far up (2: ปลัด, 3: นายก)
        counts["escalated"] = 1
        counts["escalated_top"] = int(max(facts.escalation_levels) >= 2)
    for r in facts.responses:
        counts["responses"] = counts.get("responses", 0) + 1
        counts["satisfied"] = counts.get("satisfied", 0) + int(
            r.score_sum >= SATISFIED_MEAN * r.score_n
        )
        counts["score_sum"] = counts.get("score_sum", 0) + r.score_sum
        counts["score_n"] = counts.get("score_n", 0) + r.score_n
    return {k: v for k, v in counts.items() if v}


def contribution(facts: CaseFacts) -> Contribution:
    """The case's whole part of the figures: bucket id -> counts. Nothing until insight
    knows when it was received (its period); internal improvement actions are work of
    the SAO's own, not citizens' matters, and are not counted."""
    if facts.received_at is None or facts.kind == Kind.IMPROVEMENT_ACTION.value:
        return {}
    received = parse(facts.received_at)
    fy, month = fiscal_year_be(received), month_of(received)
    dept = safe(facts.department or UNKNOWN)
    cat = safe(facts.category or UNKNOWN)
    village = str(facts.village_no) if facts.village_no is not None else UNKNOWN
    values = {
        "org": "all",
        "department": dept,
        "category": cat,
        "village": village,
        "month": month,
        "department_month": f"{dept}|{month}",
        "category_month": f"{cat}|{month}",
        "department_category": f"{dept}|{cat}",
    }
    counts = figures_of(facts)
    result: Contribution = {bucket_id(facts.org_id, fy, d, values[d]): dict(counts) for d in DIMS}
    if facts.activity_id:
        result[activity_id(facts.org_id, facts.activity_id)] = dict(counts)
    place = place_of(facts)
    if place is not None and facts.category:
        day = to_bangkok(received).strftime("d%Y%m%d")
        result[spot_id(facts.org_id, cat, place)] = {day: 1}
    if facts.category:
        day = to_bangkok(received).strftime("%Y%m%d")
        root = facts.linked_to or facts.case_id
        # the day counts reports; a key per case (dated, so a window can pick them) names
        # the chain's reports: integers only, as every bucket
        result[link_id(facts.org_id, cat, root)] = {
            f"d{day}": 1,
            f"i{day}_{safe(facts.case_id)}": 1,
        }
    return result


def difference(after: Contribution, before: Contribution) -> Contribution:
    """What to add to the figures to move a case from `before` to `after`."""
    delta: Contribution = {}
    for bid in after.keys() | before.keys():
        a, b = after.get(bid, {}), before.get(bid, {})
        change = {f: a.get(f, 0) - b.get(f, 0) for f in a.keys() | b.keys()}
        change = {f: n for f, n in change.items() if n}
        if change:
            delta[bid] = change
    return delta


def decide(record: CaseRecord, event: Event) -> CaseRecord | None:
    """The case after one more event, with the change to the figures it makes pending;
    None when the event was applied already (a redelivery or a replay)."""
    event_id = str(event.event_id)
    if event_id in record.applied:
        return None
    facts = fold(record.facts, event)
    after = contribution(facts)
    return CaseRecord(
        facts=facts,
        applied=record.with_event(event_id),
        contribution=after,
        pending=difference(after, record.contribution),
        token=None,  # named by the version it is stored as (handlers)
    )


def listed(bucket: Bucket) -> bool:
    """Whether a page or a report can ever want the bucket. Every bucket of a dimension
    can, except a place or a chain with a single report (most of them): no hotspot is
    made of fewer than HOTSPOT_MIN."""
    if bucket.dim in (SPOT, LINK):
        return sum(n for k, n in bucket.counts.items() if k.startswith("d")) >= HOTSPOT_MIN
    return True


def parse_bucket_id(bid: str) -> tuple[str, int, str, str]:
    org, fy, dim, value = bid.split("|", 3)
    return org, int(fy), dim, value


def add(bucket: Bucket | None, bid: str, change: Counts, token: str) -> Bucket | None:
    """The bucket with one change added, or None if that change (its token) is in it."""
    if bucket is None:
        org, fy, dim, value = parse_bucket_id(bid)
        bucket = Bucket(bid, org, fy, dim, value, {})
    if token in bucket.applied:
        return None
    counts = dict(bucket.counts)
    for f, n in change.items():
        counts[f] = counts.get(f, 0) + n
    return replace(
        bucket,
        counts={f: n for f, n in counts.items() if n},
        applied=(*bucket.applied, token)[-KEEP_TOKENS:],
    )


# ---- the full recomputation: what the incremental figures must always equal ----


def recompute(events: Iterable[Event], org_id: str | None = None) -> dict[str, Counts]:
    """Every bucket's figures from the raw events in one pass, each case folded from its
    events (duplicates dropped by event id), then all contributions summed."""
    cases: dict[str, CaseFacts] = {}
    seen: set[str] = set()
    for event in events:
        case_id = case_of(event)
        if case_id is None or (org_id is not None and event.org_id != org_id):
            continue
        if str(event.event_id) in seen:
            continue
        seen.add(str(event.event_id))
        facts = cases.get(case_id) or CaseFacts(case_id, event.org_id)
        cases[case_id] = fold(facts, event)
    totals: dict[str, Counts] = {}
    for facts in cases.values():
        for bid, counts in contribution(facts).items():
            into = totals.setdefault(bid, {})
            for f, n in counts.items():
                into[f] = into.get(f, 0) + n
    return {b: {f: n for f, n in c.items() if n} for b, c in totals.items() if any(c.values())}


# ---- reading the figures: the analysis ----


def rates(counts: Mapping[str, int]) -> dict[str, Any]:
    """A slice's counts with the means and shares a reader wants, computed on read."""
    received = counts.get("received", 0)
    resolved = counts.get("resolved", 0)
    acknowledged = counts.get("acknowledged", 0)
    with_deadline = counts.get("with_deadline", 0)
    responses = counts.get("responses", 0)

    def share(n: int, d: int) -> float | None:
        return round(100 * n / d, 1) if d else None

    def mean_days(seconds: int, n: int) -> float | None:
        return round(seconds / n / 86400, 2) if n else None

    return {
        "received": received,
        "acknowledged": acknowledged,
        "resolved": resolved,
        "closed": counts.get("closed", 0),
        "escalated": counts.get("escalated", 0),
        "percent_escalated": share(counts.get("escalated", 0), received),
        "reopened": counts.get("reopened", 0),
        "mean_days_to_acknowledge": mean_days(counts.get("ack_seconds", 0), acknowledged),
        "mean_days_to_resolve": mean_days(counts.get("resolve_seconds", 0), resolved),
        "percent_within_deadline": share(counts.get("within_deadline", 0), with_deadline),
        "percent_reopened": share(counts.get("reopened", 0), resolved),
        "responses": responses,
        "percent_satisfied": share(counts.get("satisfied", 0), responses),
        "mean_score": round(counts.get("score_sum", 0) / counts["score_n"], 2)
        if counts.get("score_n")
        else None,
        "causes": {
            k.removeprefix("cause_"): v for k, v in sorted(counts.items()) if k.startswith("cause_")
        },
    }


def cell_center(place: str) -> tuple[float, float] | None:
    if not place.startswith("g"):
        return None
    lat, lon = place[1:].split("_")
    return int(lat) / GRID_PER_DEGREE, int(lon) / GRID_PER_DEGREE


def hotspots(
    spots: Iterable[Bucket], until: date, *, window_days: int = 60, at_least: int = 3
) -> list[dict[str, Any]]:
    """The same category at the same place (kind "place": a SPOT bucket), or reports
    linked as likely duplicates of one first report (kind "linked": a LINK bucket),
    `at_least` times within the `window_days` days that end on `until` (Bangkok days),
    most reports first. The two kinds overlap (a chain is usually one place too): they
    are two views, listed side by side and never added together."""
    start = until - timedelta(days=window_days - 1)
    lo, hi = start.strftime("d%Y%m%d"), until.strftime("d%Y%m%d")
    found: list[dict[str, Any]] = []
    for b in spots:
        days = sorted(
            (d, n) for d, n in b.counts.items() if d.startswith("d") and lo <= d <= hi and n > 0
        )
        reports = sum(n for _, n in days)
        if reports < at_least:
            continue
        if b.dim == LINK:
            category, root = b.value.split("|", 1)
            ids = sorted(
                k.split("_", 1)[1]
                for k, n in b.counts.items()
                if k.startswith("i") and n > 0 and lo[1:] <= k[1:9] <= hi[1:]
            )
            found.append(
                {
                    "kind": "linked",
                    "category": category,
                    "root_case_id": root,
                    "case_ids": ids,
                    "place": None,
                    "village_no": None,
                    "lat": None,
                    "lon": None,
                    "reports": reports,
                    "first_day": _day(days[0][0]),
                    "last_day": _day(days[-1][0]),
                    "days": len(days),
                }
            )
            continue
        category, place = b.value.split("|", 1)
        center = cell_center(place)
        found.append(
            {
                "kind": "place",
                "category": category,
                "place": place,
                "village_no": int(place[1:]) if place.startswith("v") else None,
                "lat": center[0] if center else None,
                "lon": center[1] if center else None,
                "reports": reports,
                "first_day": _day(days[0][0]),
                "last_day": _day(days[-1][0]),
                "days": len(days),
            }
        )
    return sorted(
        found,
        key=lambda h: (
            -int(h["reports"]),
            str(h["category"]),
            str(h["kind"]) != "place",
            str(h["place"] or h.get("root_case_id")),
        ),
    )


def _day(key: str) -> str:
    return f"{key[1:5]}-{key[5:7]}-{key[7:9]}"


def fiscal_months(fiscal_year: int) -> list[str]:
    """The twelve months (YYYY-MM, Common Era) of a Thai fiscal year, October first."""
    ce = fiscal_year - 543
    return [f"{ce - 1}-{m:02d}" for m in (10, 11, 12)] + [f"{ce}-{m:02d}" for m in range(1, 10)]


def quarter_months(fiscal_year: int, quarter: int) -> list[str]:
    """Thai fiscal quarter 1 is October-December, 4 is July-September."""
    if quarter not in (1, 2, 3, 4):
        raise ValueError("a fiscal quarter is 1 to 4")
    return fiscal_months(fiscal_year)[3 * (quarter - 1) : 3 * quarter]


def seasonality(
    this_year: Mapping[str, Mapping[str, int]],
    last_year: Mapping[str, Mapping[str, int]],
    fiscal_year: int,
) -> list[dict[str, Any]]:
    """Month by month, this fiscal year's received against the previous one's (by month
    key YYYY-MM), and the change in percent."""
    rows = []
    for this_m, last_m in zip(
        fiscal_months(fiscal_year), fiscal_months(fiscal_year - 1), strict=True
    ):
        now = this_year.get(this_m, {}).get("received", 0)
        before = last_year.get(last_m, {}).get("received", 0)
        rows.append(
            {
                "month": this_m,
                "received": now,
                "previous_month": last_m,
                "previous_received": before,
                "change_percent": round(100 * (now - before) / before, 1) if before else None,
            }
        )
    return rows


def waves(
    by_category_month: Mapping[str, Mapping[str, int]], *, factor: int = 3, at_least: int = 5
) -> list[dict[str, Any]]:
    """A category's month that had `factor` times its mean of the other months and at
    least `at_least` reports: a wave (drainage after the first rain)."""
    per_cat: dict[str, dict[str, int]] = {}
    for key, counts in by_category_month.items():
        cat, month = key.split("|", 1)
        per_cat.setdefault(cat, {})[month] = counts.get("received", 0)
    found = []
    for cat, months in per_cat.items():
        for month, n in months.items():
            others = [v for m, v in months.items() if m != month]
            baseline = sum(others) / len(others) if others else 0.0
            if n >= at_least and n >= factor * max(baseline, 1.0):
                found.append(
                    {"category": cat, "month": month, "received": n, "baseline": round(baseline, 1)}
                )
    return sorted(found, key=lambda w: (-int(w["received"]), str(w["category"])))


def silent_villages(
    by_village: Mapping[str, Mapping[str, int]],
    population: Mapping[int, int],
    *,
    below_per_1000: float | None = None,
) -> list[dict[str, Any]]:
    """Reports per 1,000 residents by village, fewest first; `silent` when under the
    threshold (by default half the organisation's own rate)."""
    total_reports = sum(by_village.get(str(v), {}).get("received", 0) for v in population)
    total_people = sum(population.values())
    overall = 1000 * total_reports / total_people if total_people else 0.0
    threshold = overall / 2 if below_per_1000 is None else below_per_1000
    rows = []
    for village, people in sorted(population.items()):
        reports = by_village.get(str(village), {}).get("received", 0)
        rate = round(1000 * reports / people, 2) if people else None
        rows.append(
            {
                "village_no": village,
                "population": people,
                "received": reports,
                "per_1000": rate,
                "silent": rate is not None and rate < threshold,
            }
        )
    return sorted(
        rows, key=lambda r: (r["per_1000"] if r["per_1000"] is not None else 0.0, r["village_no"])
    )
