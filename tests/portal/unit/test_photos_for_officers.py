"""A web-form photo is for the officers of its case's department and the executives, each
look on the audit trail; nobody else, and never anonymously."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import httpx

from shared.audit import AuditTrail
from shared.clock import FixedClock
from shared.roles import Role
from tests.portal.fakes import NOW, FakePhotos, FakeUpstream, case, portal
from tests.portal.unit.test_report_form import ACCEPTED, jpeg_with_exif
from tests.signing import as_, sign_in


class Published:
    """Where the audit trail writes: kept here instead of Kafka."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, str | None, bytes]] = []

    async def publish_raw(self, topic: Any, key: str | None, value: bytes) -> None:
        self.messages.append((topic, key, value))

    async def publish_all(
        self, messages: Sequence[tuple[Any, str | None, bytes]], *, parent: str | None = None
    ) -> None:
        self.messages.extend(messages)

    def actions(self) -> list[tuple[str, str]]:
        records = [json.loads(value)["payload"] for _, _, value in self.messages]
        return [(r["action"], r["target"]) for r in records]


async def test_the_photo_is_shown_to_its_departments_officers_and_audited() -> None:
    upstream = FakeUpstream()
    upstream.answer("intake", "POST", "/v1/submissions", ACCEPTED)
    service = sign_in(portal(upstream))
    trail = Published()
    service.api.state.audit = AuditTrail(trail, "portal", FixedClock(NOW))
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        page = await c.get("/report")
        token = re.search(r'name="human_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        a, b = (int(x) for x in token.split(".")[:2])
        sent = await c.post(
            "/report",
            data={"text": "ท่อแตก", "human_token": token, "human_answer": str(a + b)},
            files={"photo": ("p.jpg", jpeg_with_exif(), "image/jpeg")},
        )
        assert sent.status_code == 202
        photos = service.handlers.photos
        assert isinstance(photos, FakePhotos)
        [(photo_id, case_id)] = photos.cases.items()
        assert case_id == "SPT-2570-000042"
        # The case as public.cases tells it: routing gave it to engineering.
        service.handlers.model.take_case(case(case_id, department="engineering"))
        url = f"/v1/photos/{photo_id}"

        assert (await c.get(url)).status_code == 401
        other = as_(Role.OFFICER, department="health", officer_id="hlt-officer")
        assert (await c.get(url, headers=other)).status_code == 403
        assert trail.messages == []
        engineer = as_(Role.OFFICER, department="engineering", officer_id="eng-somchai")
        r = await c.get(url, headers=engineer)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content == photos.kept[photo_id] and b"Somchai Jaidee" not in r.content
        executive = await c.get(url, headers=as_(Role.EXECUTIVE, officer_id="palad"))
        assert executive.status_code == 200
        assert trail.actions() == [
            ("photo.read", f"case:{case_id}"),
            ("photo.read", f"case:{case_id}"),
        ]
        assert (await c.get("/v1/photos/nope", headers=engineer)).status_code == 404
