"""Demo stage 1 (measure 2): the day's reports reach intake through every kind of channel.

Each report goes through one channel, chosen from its ticket id (so every run makes
the same choice): Open311 form posts, signed LINE webhooks, telephone records, letters,
and one suggestion-box batch. The ticket id stays the channel message id, so a second
`make demo` creates nothing new. Reports without text are refused with the reason.
Afterwards everything intake published and answered is scanned for personal data.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from services.intake.channels.line import signature
from services.intake.settings import DEMO_LINE_CHANNEL_SECRET, DEMO_OPEN311_API_KEY
from shared.taxonomy import by_label_th
from tools.demo.context import DemoContext, Report
from tools.kafka_read import read_to_end

# Reports under way at once; why 16: docs/storage.md, "`make demo` from a fresh clone".
CONCURRENCY = 16
# Out of 20 buckets of the ticket id's hash.
MIX = (("open311", 8), ("line", 5), ("phone", 3), ("letter", 2), ("suggestion_box", 2))
BOX_ID = "BOX-SPT-01"
# The clerk at the front desk takes calls, letters and the box down (a demo account).
CLERK = "desk"
# Event ids are UUIDs, whose hex runs look like numbers: they are taken out first.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PERSONAL = {
    "phone": re.compile(r"(?<![0-9])(?:\+66|0)[0-9][-\s]?[0-9]{3}[-\s]?[0-9]{3,4}(?![0-9])"),
    "email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    "LINE user id": re.compile(r"U[0-9a-f]{32}"),
    "ID card": re.compile(r"(?<![0-9])[0-9]-?[0-9]{4}-?[0-9]{5}-?[0-9]{2}-?[0-9](?![0-9])"),
}


def _hash(ticket: str) -> int:
    return int.from_bytes(hashlib.sha256(ticket.encode("utf-8")).digest()[:4], "big")


def channel_of(report: Report) -> str:
    bucket = _hash(report.ticket_id) % sum(n for _, n in MIX)
    for channel, n in MIX:
        if bucket < n:
            return channel
        bucket -= n
    raise AssertionError("unreachable")


def received_at(report: Report) -> datetime | None:
    try:
        moment = datetime.fromisoformat(report.timestamp.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _service_code(report: Report) -> str:
    for label in report.types:
        try:
            return by_label_th(label).code
        except KeyError:
            continue
    return "general"


def _caller_number(report: Report) -> str:
    # Synthetic, deterministic numbers: the reports carry none, and the demo must show
    # that a phone number given to intake never comes out of it.
    return f"08{_hash(report.ticket_id + 'tel') % 10**8:08d}"


def open311_form(report: Report, api_key: str) -> dict[str, str]:
    form = {
        "api_key": api_key,
        "service_code": _service_code(report),
        "description": report.text,
        "phone": _caller_number(report),
    }
    if report.lat is not None and report.lon is not None:
        form.update(lat=str(report.lat), long=str(report.lon))
    else:
        form["address_string"] = report.address or "ต.สระโพนทอง"
    if (at := received_at(report)) is not None:
        form["requested_datetime"] = at.isoformat()
    return form


def line_body(report: Report) -> bytes:
    at = received_at(report) or datetime.now(UTC)
    user = "U" + hashlib.md5(report.ticket_id.encode(), usedforsecurity=False).hexdigest()
    base: dict[str, Any] = {
        "mode": "active",
        "timestamp": int(at.timestamp() * 1000),
        "source": {"type": "user", "userId": user},
        "deliveryContext": {"isRedelivery": False},
        "type": "message",
    }
    events: list[dict[str, Any]] = [
        {
            **base,
            "webhookEventId": report.ticket_id,
            "replyToken": "demo",
            "message": {"id": f"{report.ticket_id}-t", "type": "text", "text": report.text},
        }
    ]
    # The pin follows the words, as people do: it joins the same case.
    if report.text.strip() and report.lat is not None and report.lon is not None:
        events.append(
            {
                **base,
                "timestamp": int(at.timestamp() * 1000) + 20_000,
                "webhookEventId": f"{report.ticket_id}-loc",
                "replyToken": "demo",
                "message": {
                    "id": f"{report.ticket_id}-l",
                    "type": "location",
                    "title": "จุดเกิดเหตุ",
                    "address": report.address or None,
                    "latitude": report.lat,
                    "longitude": report.lon,
                },
            }
        )
    return json.dumps({"destination": "Udemo", "events": events}, ensure_ascii=False).encode()


def phone_record(report: Report) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_id": report.ticket_id,
        "caller_number": _caller_number(report),
        "officer_id": "desk",
        "summary": report.text,
        "call_time": (received_at(report) or datetime.now(UTC)).isoformat(),
    }
    if report.lat is not None and report.lon is not None:
        body["location"] = {"lat": report.lat, "lon": report.lon}
    return body


def letter(report: Report) -> dict[str, Any]:
    n = _hash(report.ticket_id + "house")
    return {
        "registration_no": report.ticket_id,
        "received_date": (received_at(report) or datetime.now(UTC)).isoformat(),
        "sender_name": "นายผู้ส่ง ตัวอย่าง",
        "sender_address": f"บ้านเลขที่ {n % 200 + 1}/{n % 9 + 1} หมู่ที่ {n % 12 + 1}",
        "scan_ref": f"scan/{report.ticket_id}.pdf",
        "text": report.text,
    }


def box_csv(reports: list[Report]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["slip_id", "text", "phone"])
    for r in reports:
        writer.writerow([r.ticket_id, r.text, _caller_number(r)])
    return out.getvalue()


def _reason(r: Any) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"{r.status_code} {r.text[:120]}"
    if isinstance(body, list) and body and "description" in body[0]:
        return f"{r.status_code} {body[0]['description']}"
    return f"{r.status_code} {body.get('message', r.text[:120])}"


async def run(ctx: DemoContext) -> None:
    ctx.heading("Intake: the day's reports through every channel")
    api_key = (os.environ.get("OPEN311_API_KEYS") or DEMO_OPEN311_API_KEY).split(",")[0].strip()
    secret = os.environ.get("LINE_CHANNEL_SECRET") or DEMO_LINE_CHANNEL_SECRET
    accepted: dict[str, str] = {}
    refused: list[tuple[str, str]] = []
    by_channel: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    refused_by: Counter[str] = Counter()
    duplicates = 0
    gate = asyncio.Semaphore(CONCURRENCY)
    done = 0
    clerk = await ctx.as_(CLERK)

    def outcome(
        report: Report, channel: str, case_id: str | None, reason: str | None, duplicate: bool
    ) -> None:
        nonlocal done, duplicates
        sent[channel] += 1
        if case_id is not None:
            accepted[report.ticket_id] = case_id
            by_channel[channel] += 1
            duplicates += duplicate
        else:
            refused.append((report.ticket_id, reason or "refused"))
            refused_by[channel] += 1
        done += 1
        if done % 50 == 0 or done == len(ctx.reports):
            print(f"\r  sent {done}/{len(ctx.reports)}", end="", flush=True)

    async def send(report: Report, channel: str) -> None:
        async with gate:
            if channel == "open311":
                r = await ctx.client.post(
                    ctx.url("intake", "/open311/v2/requests.json"),
                    data=open311_form(report, api_key),
                    headers={"Idempotency-Key": report.ticket_id},
                )
                ok = r.status_code == 200
                outcome(
                    report,
                    channel,
                    r.json()[0]["service_request_id"] if ok else None,
                    None if ok else _reason(r),
                    r.headers.get("Idempotent-Replayed") == "true",
                )
            elif channel == "line":
                body = line_body(report)
                r = await ctx.client.post(
                    ctx.url("intake", "/channels/line/webhook"),
                    content=body,
                    headers={
                        "x-line-signature": signature(secret, body),
                        "content-type": "application/json",
                    },
                )
                if r.status_code != 200:
                    outcome(report, channel, None, _reason(r), False)
                    return
                first = r.json()["events"][0]
                outcome(
                    report,
                    channel,
                    first.get("case_id"),
                    f"200 LINE event skipped: {first.get('refused')}",
                    bool(first.get("duplicate")),
                )
            else:
                path = "/v1/channels/phone" if channel == "phone" else "/v1/channels/letter"
                body_json = phone_record(report) if channel == "phone" else letter(report)
                r = await ctx.client.post(ctx.url("intake", path), json=body_json, headers=clerk)
                ok = r.status_code == 202
                outcome(
                    report,
                    channel,
                    r.json()["case_id"] if ok else None,
                    None if ok else _reason(r),
                    ok and bool(r.json()["duplicate"]),
                )

    plan = [(r, channel_of(r)) for r in ctx.reports]
    box = [r for r, c in plan if c == "suggestion_box"]
    await asyncio.gather(*(send(r, c) for r, c in plan if c != "suggestion_box"))
    if box:
        opened = max((at for r in box if (at := received_at(r)) is not None), default=None)
        r = await ctx.client.post(
            ctx.url("intake", "/v1/channels/suggestion-box"),
            params={
                "box_id": BOX_ID,
                "location": "หน้าที่ทำการ อบต.สระโพนทอง",
                "opened_at": (opened or datetime.now(UTC)).isoformat(),
                "committee": "ปลัด อบต.,หัวหน้าสำนักปลัด,ผู้แทนประชาชน",
            },
            content=box_csv(box).encode("utf-8"),
            headers={"content-type": "text/csv", **clerk},
            # A whole box session in one upload: every slip is stored before the answer.
            timeout=600.0,
        )
        items = {i["id"]: i for i in r.json().get("items", [])} if r.status_code == 202 else {}
        for report in box:
            item = items.get(report.ticket_id, {})
            outcome(
                report,
                "suggestion_box",
                item.get("case_id"),
                f"slip refused: {item['refused']}" if "refused" in item else _reason(r),
                bool(item.get("duplicate")),
            )
    print(flush=True)

    ctx.results["intake"] = {
        "sent": len(ctx.reports),
        "accepted": accepted,
        "refused": refused,
        "by_channel": by_channel,
        "already_known": duplicates,
    }
    ctx.line(
        f"  reports sent: {len(ctx.reports)}   accepted: {len(accepted)}"
        f" (already known from an earlier run: {duplicates})   refused: {len(refused)}"
    )
    ctx.table(
        [(c, sent[c], by_channel[c], refused_by[c]) for c, _ in MIX],
        ("channel", "sent", "accepted", "refused"),
    )
    reasons = Counter(reason for _, reason in refused)
    if reasons:
        ctx.table([(n, reason) for reason, n in reasons.most_common()], ("refused", "reason"))
    stats = (await ctx.client.get(ctx.url("intake", "/v1/channels"), headers=clerk)).json()
    ctx.line(
        f"  listening channels in use: {stats['listening_channels']}"
        f" ({stats['online_channels']} online) -> assessment criterion met:"
        f" {'yes' if stats['meets_assessment'] else 'no'}"
    )
    await _privacy_scan(ctx, sorted(set(accepted.values())))


async def _privacy_scan(ctx: DemoContext, case_ids: list[str]) -> None:
    """No phone, email, LINE user id or ID-card number in what intake publishes."""
    answers = []
    for start in range(0, len(case_ids), 100):
        ids = ",".join(case_ids[start : start + 100])
        r = await ctx.client.get(
            ctx.url("intake", "/open311/v2/requests.json"), params={"service_request_id": ids}
        )
        answers.append(r.text)
    published = await _read_public_cases()
    scanned = UUID.sub("<uuid>", "\n".join(answers) + "\n" + "\n".join(published))
    found = {what: len(p.findall(scanned)) for what, p in PERSONAL.items()}
    where = f"{len(case_ids)} Open311 answers"
    where += f" and {len(published)} public.cases records" if published else ""
    verdict = "none found" if not any(found.values()) else f"FOUND {found}"
    ctx.line(f"  privacy scan of {where}: personal data {verdict}")


async def _read_public_cases(timeout: float = 20.0) -> list[str]:
    from deploy.local import stack
    from shared.topics import Topic

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or stack.get_profile().kafka_bootstrap
    topic = os.environ.get("RUAM_TOPIC_PREFIX", "") + Topic.PUBLIC_CASES.value
    try:
        records = (await read_to_end(bootstrap, [topic], timeout)).get(topic, [])
    except Exception as exc:  # the scan is a check; the demo goes on without it
        print(f"  (public.cases not readable: {exc})", flush=True)
        return []
    return [r.value.decode("utf-8", errors="replace") for r in records if r.value]
