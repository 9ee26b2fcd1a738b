"""What the citizen sent stays on the case for the staff who work it; the owner's root cause
at resolve is checked against the category's list, kept and announced (measure 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.routing.bootstrap import create_service
from services.routing.settings import RoutingSettings
from shared.clock import FixedClock
from shared.events.cases import CaseAmended, CaseAmendedPayload
from shared.roles import Role
from shared.taxonomy import GENERAL_CAUSES, causes_for
from shared.topics import Topic
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import NOW, received
from tests.signing import AUDITOR, EXECUTIVE, as_, sign_in

CASE = "SPT-2569-000001"
PHOTO = {"kind": "image", "ref": "portal-photo:abc"}
ANAN = as_(Role.OFFICER, officer_id="eng-anan", department="engineering")
SOMCHAI = as_(Role.OFFICER, officer_id="eng-somchai", department="engineering")
OTHER = as_(Role.OFFICER, officer_id="fin-a", department="finance")


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, FakeCaseRepository, object]]:
    repo = FakeCaseRepository()
    svc = create_service(
        RoutingSettings(),
        cases=repo,
        directories=StaticDirectories(),
        ranker=FakeRanker(),
        clock=FixedClock(NOW),
    )
    await svc.handlers.on_case_received(
        received(CASE, location={"village_no": 5}, attachments=[PHOTO])
    )
    sign_in(svc)
    transport = httpx.ASGITransport(app=svc.asgi)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://routing", headers=EXECUTIVE
    ) as client:
        yield client, repo, svc


async def test_the_citizens_photo_is_on_the_case_for_its_department_only(
    api: tuple[httpx.AsyncClient, FakeCaseRepository, object],
) -> None:
    client, repo, _ = api
    stored = await repo.get(CASE)
    assert stored is not None and [(a.kind, a.ref) for a in stored.attachments] == [
        ("image", "portal-photo:abc")
    ]
    for who in (EXECUTIVE, ANAN, SOMCHAI):  # the owner, another officer of the department
        r = await client.get(f"/v1/cases/{CASE}", headers=who)
        assert r.json()["attachments"] == [PHOTO]
    # An auditor reads the case redacted: no photo, which no redaction can reach into.
    r = await client.get(f"/v1/cases/{CASE}", headers=AUDITOR)
    assert r.status_code == 200 and r.json()["attachments"] == []
    assert (await client.get(f"/v1/cases/{CASE}", headers=OTHER)).status_code == 403


async def test_a_follow_up_photo_joins_the_case_once(
    api: tuple[httpx.AsyncClient, FakeCaseRepository, object],
) -> None:
    _, repo, svc = api
    amended = CaseAmended(
        org_id="sraphonthong",
        payload=CaseAmendedPayload(
            case_id=CASE,
            amendment_id="line-1",
            channel="line",  # type: ignore[arg-type]
            at=NOW,
            kind="image",
            attachments=({"kind": "image", "ref": "line:message/1"},),  # type: ignore[arg-type]
        ),
    )
    await svc.handlers.on_case_amended(amended)  # type: ignore[attr-defined]
    await svc.handlers.on_case_amended(amended)  # type: ignore[attr-defined]
    stored = await repo.get(CASE)
    assert stored is not None and [a.ref for a in stored.attachments] == [
        "portal-photo:abc",
        "line:message/1",
    ]


async def test_a_cause_from_the_categorys_list_is_kept_and_announced(
    api: tuple[httpx.AsyncClient, FakeCaseRepository, object],
) -> None:
    client, repo, _ = api
    url = f"/v1/cases/{CASE}/actions"
    own = causes_for("lighting")[0]
    assert own.code == "lamp_failure" and GENERAL_CAUSES[-1] == "other"
    # A cause of another category's list (a road's) is refused, in Thai, naming the field.
    wrong = {"action": "resolve", "resolution": "เปลี่ยนหลอดแล้ว", "cause": "worn_surface"}
    r = await client.post(url, json=wrong, headers=ANAN)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "params.cause"
    assert "ไม่อยู่ในรายการ" in r.json()["details"][0]["message"]
    body = {
        "action": "resolve",
        "resolution": "เปลี่ยนหลอดแล้ว",
        "cause": own.code,
        "cause_note": "หลอดหมดอายุ แจ้งโดยนายสมชาย โทร 081-234-5678",
    }
    r = await client.post(url, json=body, headers=ANAN)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["cause"] == "lamp_failure" and case["cause_label_th"] == own.label_th
    assert case["cause_note"].startswith("หลอดหมดอายุ")
    resolved = repo.publisher.on(Topic.CASE_RESOLVED)[-1]["payload"]
    assert resolved["cause"] == "lamp_failure"
    # Analysis needs no one's phone number: the note goes out redacted.
    assert "081-234-5678" not in resolved["cause_note"]
    stored = await repo.get(CASE)
    assert stored is not None and stored.cause == "lamp_failure"


async def test_a_category_without_its_own_list_offers_the_general_causes() -> None:
    assert [c.code for c in causes_for("noise")] == list(GENERAL_CAUSES)
    assert [c.code for c in causes_for(None)] == list(GENERAL_CAUSES)
    assert "blocked_drain" in {c.code for c in causes_for("drainage")}
