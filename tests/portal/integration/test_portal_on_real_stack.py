"""The portal on the real Kafka broker and FerretDB: a case published on `public.cases`
appears on its tracking page, a later projection replaces it, and a restarted portal shows
it again from its own store (the consumer group has moved past the events)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.portal.bootstrap import create_service
from services.portal.settings import PortalSettings
from shared.events.cases import Channel, Kind, PublicCasePayload, PublicCaseUpdated, PublicStep
from shared.topics import Topic
from tests.conftest import eventually, running

pytestmark = pytest.mark.integration

CASE = "SPT-2570-004242"


def projection(status: str, steps: tuple[tuple[str, datetime], ...]) -> PublicCaseUpdated:
    received = datetime.now(UTC) - timedelta(days=3)
    return PublicCaseUpdated(
        org_id="sraphonthong",
        payload=PublicCasePayload(
            case_id=CASE,
            kind=Kind.COMPLAINT,
            channel=Channel.WEB,
            status=status,
            category="drainage",
            department="engineering",
            text="ท่อระบายน้ำอุดตันหน้าศาลาประชาคม",
            village_no=2,
            received_at=received,
            updated_at=steps[-1][1] if steps else received,
            timeline=tuple(PublicStep(status=s, at=at) for s, at in steps),
            respond_due_at=received + timedelta(days=15),
            resolution="ลอกท่อแล้ว" if status == "resolved" else None,
            lat=15.651,
            lon=103.602,
        ),
    )


async def test_a_published_case_appears_on_its_tracking_page(
    real_settings: Callable[..., Any],
) -> None:
    settings = real_settings(PortalSettings, human_check_secret="it", rate_limit_per_second=0)
    service = create_service(settings)
    now = datetime.now(UTC)
    assigned = projection("assigned", (("assigned", now - timedelta(days=2)),))
    resolved = projection(
        "resolved", (("assigned", now - timedelta(days=2)), ("resolved", now - timedelta(hours=1)))
    )

    async with running(service) as http:
        await service.runtime.publisher.publish(Topic.PUBLIC_CASES, CASE, assigned)

        async def tracked(words: str) -> httpx.Response | None:
            r = await http.get(f"/track/{CASE}")
            return r if r.status_code == 200 and words in r.text else None

        page = await eventually(lambda: tracked("มอบหมายผู้รับผิดชอบแล้ว"), timeout=60)
        assert "ท่อระบายน้ำอุดตันหน้าศาลาประชาคม" in page.text and "กองช่าง" in page.text
        # A redelivered older projection changes nothing; the later one wins.
        await service.runtime.publisher.publish(Topic.PUBLIC_CASES, CASE, resolved)
        await service.runtime.publisher.publish(Topic.PUBLIC_CASES, CASE, assigned)
        page = await eventually(lambda: tracked("ลอกท่อแล้ว"), timeout=60)
        assert "ทันกำหนด" in page.text
        listed = (await http.get("/cases.json", params={"village": "2"})).json()
        assert [i["case_id"] for i in listed["items"]] == [CASE]
        assert listed["items"][0]["status"] == "resolved"
        kept = await service.runtime.db["portal_cases"].find_one({"_id": CASE})
        assert kept is not None and '"status":"resolved"' in kept["json"]
        # Leaving commits what the consumers handled (Runtime._on_shutdown).

    again = create_service(settings)
    async with running(again) as http:
        r = await http.get(f"/track/{CASE}")
        assert r.status_code == 200 and "ลอกท่อแล้ว" in r.text, "kept across a restart"
        assert (await http.get("/track/SPT-2570-999999")).status_code == 404


async def test_web_form_photos_are_kept_once_and_deleted_after_their_retention(
    real_settings: Callable[..., Any],
) -> None:
    from services.portal.adapters.mongo_portal import MongoPhotoStore
    from shared.mongo import create_client

    settings = real_settings(PortalSettings)
    client = create_client(settings.mongodb_url, app_name="portal-test")
    try:
        photos = MongoPhotoStore(client[settings.mongodb_database])
        ref = await photos.keep("abc", b"\xff\xd8jpeg")
        assert ref == "portal-photo:abc"
        assert await photos.keep("abc", b"\xff\xd8jpeg") == ref, "the same photo again: kept"
        await photos.link("abc", CASE)
        assert await photos.get("abc") == (b"\xff\xd8jpeg", CASE)
        assert await photos.get("nope") is None
        now = datetime.now(UTC)
        assert await photos.purge(now - timedelta(days=1)) == 0
        assert await photos.purge(now + timedelta(minutes=1)) == 1
    finally:
        await client.close()
