"""The console's forms and queries over digits int() refuses and bodies streamed past their
limit: the number is left out as any other unreadable one is, or the form comes back with
the reason; never a 500, and nothing oversized reaches intake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from services.console.analysis import consultation_body, participants_of, scope_of
from services.console.views import project_event
from shared.auth import TokenVerifier
from shared.roles import Role
from tests.console.unit.test_analysis import who
from tests.console.world import CONSOLE, ISSUER, Browser, World, hidden, world
from tests.intake.unit.api import service as intake_service
from tests.intake.unit.helpers import World as IntakeWorld

# Each passes str.isdigit(); int() refuses every one.
STRANGE = ["²", "①", "1" * 5000]


@pytest.mark.parametrize("strange", STRANGE)
def test_the_analysis_scope_falls_back_to_this_quarter(strange: str) -> None:
    head = who(Role.HEAD, "engineering")
    scope = scope_of(head, {"fy": strange, "q": strange}, date(2026, 5, 1))
    assert (scope.fiscal_year, scope.quarter) == (2569, 3)
    assert scope_of(head, {"fy": "๒๕๖๘", "q": "๒"}, date(2026, 5, 1)).quarter == 2


@pytest.mark.parametrize("strange", STRANGE)
def test_strange_counts_and_villages_are_left_out(strange: str) -> None:
    form = {
        "participants_residents": strange,
        "participants_citizens": strange,
        "participants_community_leaders": "๑๒",
        "village_no": strange,
    }
    scope = scope_of(who(Role.HEAD, "engineering"), {}, date(2026, 5, 1))
    assert participants_of(form) == {"community_leaders": 12}
    assert consultation_body(form, scope)["village_no"] is None
    event = project_event({"type": "participation_recorded", **form}, "planner")
    assert event["participants"] == {"community_leaders": 12}


def with_intake(w: World) -> IntakeWorld:
    taken = IntakeWorld()
    intake = intake_service(taken)
    intake.api.state.verifier = TokenVerifier(ISSUER, "ruam", http=w.client)
    w.ports.apps[8001] = httpx.ASGITransport(app=intake.asgi)
    return taken


@pytest.mark.parametrize("strange", STRANGE)
async def test_a_phone_call_and_a_meeting_with_strange_numbers_are_still_taken(
    strange: str,
) -> None:
    w = world()
    with_intake(w)
    browser = Browser(w)
    await browser.sign_in("desk")
    form = await browser.get("/intake/phone")
    call = await browser.post(
        "/intake/phone",
        {
            **hidden(form.text),
            "call_time": "2026-05-01T09:30",
            "summary": "น้ำประปาไม่ไหล",
            "village_no": strange,
        },
    )
    assert call.status_code == 200 and "/receipt?case=" in str(call.url), call.text[:300]
    form = await browser.get("/intake/meeting")
    meeting = await browser.post(
        "/intake/meeting",
        {
            **hidden(form.text),
            "activity_id": "ประชาคม-ม4-2569",
            "title": "ประชาคมหมู่ 4",
            "held_at": "2026-04-30T13:00",
            "village_no": strange,
            "attendees_ประชาชน": strange,
            "opinions": "ขอไฟทางเพิ่ม",
        },
    )
    assert meeting.status_code == 200 and "/receipt?case=" in str(meeting.url), meeting.text[:300]


async def chunked(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_chunked_form_past_its_limit_is_a_413_and_reaches_no_one() -> None:
    w = world(max_upload_bytes=50_000, max_scan_bytes=50_000)  # a form of 250 kB at most
    sent: list[Any] = []

    async def intake(scope: Any, receive: Any, send: Any) -> None:  # records, answers nothing
        sent.append(scope["path"])

    w.ports.apps[8001] = httpx.ASGITransport(app=intake)
    browser = Browser(w)
    await browser.sign_in("desk")
    csrf = hidden((await browser.get("/intake/phone")).text)["csrf"]
    headers = {"content-type": "application/x-www-form-urlencoded"}
    first = f"csrf={csrf}&summary=".encode()
    one_field = await browser.client.post(
        CONSOLE + "/intake/phone", content=chunked(first, *[b"x" * 65_536] * 20), headers=headers
    )
    fields = [b"f%d=%s&" % (i, b"y" * 20_000) for i in range(60)]
    many = await browser.client.post(
        CONSOLE + "/intake/phone", content=chunked(first + b"&", *fields), headers=headers
    )
    for r in (one_field, many):
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert sent == []
