"""Abuse limits at intake, on fakes: the 20,000-digit text is refused on every channel that
carries text, a received_at must be plausible, the shared rate limit answers 429 through the
assembled service (never on /healthz or /metrics), and no metric label is client input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from services.intake.domain import rules
from services.intake.domain.errors import IntakeError
from services.intake.domain.model import Submission
from shared.events.cases import Channel
from shared.topics import Topic
from tests.intake.unit.api import client, service
from tests.intake.unit.helpers import API_KEY, CLERK, NOW, World, line_body, line_event, signed
from tests.intake.unit.test_channels import BOX, CALL, LETTER, MEETING
from tests.intake.unit.test_open311 import BASE, assert_spec_error, form
from tests.signing import AUDITOR, OPERATOR, sign_in

DIGITS = "1" * 20_000
FORM = {"content-type": "application/x-www-form-urlencoded"}


def email(body: str) -> bytes:
    head = (
        "From: somchai@example.co.th\r\nTo: saraban@sraphonthong.go.th\r\n"
        "Subject: ร้องเรียน\r\nMessage-ID: <long-1@example.co.th>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return (head + body).encode("utf-8")


def created(world: World) -> int:
    return len(world.publisher.on(Topic.CASE_RECEIVED))


# --------------------------------------------------------------- the 20,000-digit text


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/v1/submissions", {"json": {"channel": "web", "text": DIGITS}}),
        ("/v1/channels/phone", {"json": {**CALL, "summary": DIGITS}}),
        ("/v1/channels/letter", {"json": {**LETTER, "text": DIGITS}}),
        (
            "/v1/channels/meeting",
            {"json": {**MEETING, "opinions": [{"no": 1, "text": DIGITS, "kind": "opinion"}]}},
        ),
        (
            "/v1/channels/email",
            {"content": email(DIGITS), "headers": {"content-type": "message/rfc822"}},
        ),
    ],
    ids=["web", "phone", "letter", "meeting", "email"],
)
async def test_the_20000_digit_text_is_422_and_creates_nothing(
    path: str, kwargs: dict[str, Any]
) -> None:
    world = World()
    async with client(world, OPERATOR if path == "/v1/channels/email" else CLERK) as c:
        r = await c.post(path, **kwargs)
    assert r.status_code == 422, r.text
    assert r.json()["error"] in {"validation_failed", "invalid_input"}
    assert "10000" in r.text or "10,000" in r.text  # the bound is named
    assert world.publisher.sent == [] and world.submissions.docs == {}


async def test_the_20000_digit_text_is_400_in_open311s_own_error_shape() -> None:
    # Open311 has no 422: a text over its bound is the spec's 400.
    world = World()
    async with client(world, CLERK) as c:
        r = await c.post(f"{BASE}/requests.json", data=form(description=DIGITS))
    assert_spec_error(r, 400)
    assert "4,000" in r.json()[0]["description"]
    assert world.publisher.sent == []


async def test_the_20000_digit_line_message_is_skipped_with_a_reason() -> None:
    world = World()
    body = line_body(line_event("LONG", text=DIGITS), line_event("SHORT", text="ไฟถนนดับ"))
    async with client(world, CLERK) as c:
        r = await c.post(
            "/channels/line/webhook",
            content=body,
            headers={"x-line-signature": signed(body), "content-type": "application/json"},
        )
    assert r.status_code == 200  # LINE is always answered 200; the event is refused
    long, short = r.json()["events"]
    assert long["id"] == "LONG" and "message.text" in long["refused"]
    assert "10000 characters" in long["refused"]
    assert "case_id" in short and created(world) == 1  # the next event goes on


async def test_the_20000_digit_slip_is_refused_and_the_rest_of_the_box_goes_on() -> None:
    world = World()
    slips = f"ลำดับ,ข้อความ\n1,{DIGITS}\n2,ขอให้ซ่อมไฟถนนหมู่ 4\n"
    async with client(world, CLERK) as c:
        r = await c.post(
            "/v1/channels/suggestion-box",
            params=BOX,
            content=slips.encode(),
            headers={"content-type": "text/csv"},
        )
    assert r.status_code == 202
    first, second = r.json()["items"]
    assert "text" in first["refused"] and "10000" in first["refused"]
    assert "case_id" in second and created(world) == 1


async def test_a_20000_digit_number_where_text_belongs_is_400_not_500() -> None:
    world = World()
    body = b'{"channel": "web", "text": ' + DIGITS.encode() + b"}"
    line = b'{"destination": "U1", "events": [{"timestamp": ' + DIGITS.encode() + b"}]}"
    async with client(world, CLERK) as c:
        web = await c.post(
            "/v1/submissions", content=body, headers={"content-type": "application/json"}
        )
        hook = await c.post(
            "/channels/line/webhook",
            content=line,
            headers={"x-line-signature": signed(line), "content-type": "application/json"},
        )
    assert web.status_code == 400 and web.json()["error"] == "invalid_json"
    assert hook.status_code == 400
    assert world.publisher.sent == []


# --------------------------------------------------------------- received_at window


def sub(at: datetime) -> Submission:
    return Submission(channel=Channel.WEB, text="ไฟถนนดับ", received_at=at)


def test_received_at_within_the_window_is_allowed_beyond_it_refused_in_thai() -> None:
    rules.check_allowed(sub(NOW - rules.MAX_AGE), NOW)
    rules.check_allowed(sub(NOW + rules.CLOCK_SKEW), NOW)
    with pytest.raises(IntakeError, match="วันที่รับเรื่องเก่ากว่า"):
        rules.check_allowed(sub(NOW - rules.MAX_AGE - timedelta(seconds=1)), NOW)
    with pytest.raises(IntakeError, match="future"):
        rules.check_allowed(sub(NOW + rules.CLOCK_SKEW + timedelta(seconds=1)), NOW)


def test_the_window_takes_a_year_late_box_and_the_demos_2023_reports() -> None:
    late_box = NOW - timedelta(days=400)
    rules.check_allowed(sub(late_box), NOW)
    # `make demo` replays Traffy Fondue reports received on 2023-05-16 with their own times.
    demo_now = datetime(2026, 12, 1, tzinfo=UTC)
    rules.check_allowed(sub(datetime(2023, 5, 16, 8, 21, tzinfo=UTC)), demo_now)


async def test_an_implausibly_old_received_at_is_refused_on_each_channel() -> None:
    world = World()
    epoch = "1970-01-01T00:00:00+00:00"
    seconds_not_ms = line_event("SEC", text="ไฟถนนดับ")
    seconds_not_ms["timestamp"] = int(NOW.timestamp())  # read as milliseconds: January 1970
    hook = line_body(seconds_not_ms)
    async with client(world, CLERK) as c:
        web = await c.post(
            "/v1/submissions", json={"channel": "web", "text": "ไฟถนนดับ", "received_at": epoch}
        )
        phone = await c.post("/v1/channels/phone", json={**CALL, "call_time": "2512-05-16"})
        o311 = await c.post(f"{BASE}/requests.json", data=form(requested_datetime=epoch))
        line = await c.post(
            "/channels/line/webhook",
            content=hook,
            headers={"x-line-signature": signed(hook), "content-type": "application/json"},
        )
    assert web.status_code == 422 and "เก่ากว่า" in web.json()["message"]
    assert phone.status_code == 422 and "1969" in phone.json()["message"]  # B.E. 2512
    assert_spec_error(o311, 400)  # Open311 answers a refused matter 400, as before
    assert "เก่ากว่า" in o311.json()[0]["description"]
    assert line.status_code == 200 and "เก่ากว่า" in line.json()["events"][0]["refused"]
    assert world.publisher.sent == []


async def test_a_slightly_old_letter_is_still_received() -> None:
    world = World()
    async with client(world, CLERK) as c:  # 500 days before NOW: beyond 400, within five years
        r = await c.post("/v1/channels/letter", json={**LETTER, "received_date": "2568-01-02"})
    assert r.status_code == 202


# --------------------------------------------------------------- rate limit, assembled


@asynccontextmanager
async def from_ip(world: World, ip: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An auditor's client from `ip` (GET /v1/channels is for staff and auditors)."""
    svc = sign_in(service(world, **settings))
    world.handlers = svc.handlers
    transport = httpx.ASGITransport(app=svc.asgi, client=(ip, 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake", headers=AUDITOR
    ) as c:
        yield c


async def test_the_api_answers_429_beyond_the_burst_but_never_health_or_metrics() -> None:
    world = World()
    async with from_ip(world, "203.0.113.9", rate_limit_burst=2, rate_limit_per_second=0.01) as c:
        codes = [(await c.get("/v1/channels")).status_code for _ in range(3)]
        limited = await c.post("/v1/submissions", json={"channel": "web", "text": "ไฟถนนดับ"})
        health = [(await c.get("/healthz")).status_code for _ in range(5)]
        metrics = await c.get("/metrics")
    assert codes == [200, 200, 429]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate_limited" and world.publisher.sent == []
    assert 429 not in health and metrics.status_code == 200
    # A signed-in caller is limited by the token's subject.
    assert 'ruam_http_rate_limited_total{key_kind="token",service="intake"} 2.0' in metrics.text


async def test_an_open311_partner_is_limited_by_its_key_not_its_address() -> None:
    world = World()
    async with from_ip(world, "203.0.113.10", rate_limit_burst=1, rate_limit_per_second=0.01) as c:
        first = await c.post(f"{BASE}/requests.json", content=urlencode(form()), headers=FORM)
        browsing = await c.get("/v1/channels")  # the same address, its own bucket
        second = await c.post(
            f"{BASE}/requests.json",
            content=urlencode(form(description="ไฟถนนดับหน้าวัด")),
            headers=FORM,
        )
        metrics = await c.get("/metrics")
    assert first.status_code == 200 and browsing.status_code == 200
    assert second.status_code == 429
    assert 'key_kind="api_key"' in metrics.text and API_KEY not in metrics.text


async def test_by_default_the_demo_from_this_machine_is_never_limited_a_stranger_is() -> None:
    world = World()
    async with from_ip(world, "127.0.0.1") as local:
        codes = {(await local.get("/v1/channels")).status_code for _ in range(1_000)}
    assert codes == {200}
    # The default burst, with the refill slowed so that the test's own pace does not matter.
    async with from_ip(world, "198.51.100.20", rate_limit_per_second=0.001) as stranger:
        codes_out = [(await stranger.get("/v1/channels")).status_code for _ in range(201)]
    assert codes_out[:200] == [200] * 200 and codes_out[200] == 429


# --------------------------------------------------------------- metric labels


async def test_no_client_input_becomes_a_metric_label() -> None:
    world = World()
    marker = "hax"
    hostile = line_event(f"{marker}-1", text="x")
    hostile["message"] = {"id": "1", "type": f"{marker}-type"}
    odd = {**line_event(f"{marker}-2", text="x"), "type": f"{marker}-event"}
    hook = line_body(hostile, odd)
    async with client(world, OPERATOR) as c:
        await c.post("/v1/submissions", json={"channel": f"{marker}-channel", "text": "x"})
        await c.post("/v1/submissions", json={"channel": "web", "text": "x", "kind": marker})
        await c.post("/v1/submissions", content=b"{" + marker.encode())
        await c.post(f"{BASE}/requests.json", data=form(api_key=f"{marker}-key"))
        await c.post(f"{BASE}/requests.json", data=form(**{f"attribute[{marker}]": "1"}))
        await c.post(f"{BASE}/requests.json", data=form(service_code=f"{marker}-code"))
        await c.post(f"{BASE}/requests.json", content=marker, headers={"content-type": marker})
        await c.post(f"/v1/channels/{marker}", json={})
        await c.post(
            "/channels/line/webhook",
            content=hook,
            headers={"x-line-signature": signed(hook), "content-type": "application/json"},
        )
        await c.post("/channels/line/webhook", content=hook, headers={"x-line-signature": marker})
        exposition = (await c.get("/metrics")).text
    series = [line for line in exposition.splitlines() if line.startswith("ruam_")]
    assert any(s.startswith("ruam_submissions_refused_total{") for s in series)
    assert not [s for s in series if marker in s]
