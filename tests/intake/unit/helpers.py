"""Building intake's handlers on fakes, and realistic Thai payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from services.intake.channels.line import signature
from services.intake.handlers import IntakeHandlers
from services.intake.metrics import IntakeMetrics
from services.intake.settings import DEV_VAULT_KEY
from services.intake.vault import PersonalVault, sealer_of
from shared.clock import FixedClock
from shared.roles import Role
from tests.fakes import FakePublisher
from tests.intake.fakes import (
    FakeDeadLetters,
    FakeRecords,
    FakeSubmissions,
    FakeThreads,
    FakeVault,
)
from tests.signing import as_

NOW = datetime(2026, 5, 16, 3, 0, tzinfo=UTC)  # 10:00 in Bangkok, FY2569
# A clerk at the front desk, who takes calls and letters down for citizens.
CLERK = as_(Role.OFFICER, officer_id="desk-01", department="office")
SECRET = "test-line-secret"
RETENTION = timedelta(days=730)
API_KEY = "test-key"


@dataclass
class World:
    publisher: FakePublisher = field(default_factory=FakePublisher)
    vault: FakeVault = field(default_factory=FakeVault)
    records: FakeRecords = field(default_factory=FakeRecords)
    threads: FakeThreads = field(default_factory=FakeThreads)
    dead: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    clock: FixedClock = field(default_factory=lambda: FixedClock(NOW))

    def __post_init__(self) -> None:
        self.submissions = FakeSubmissions(self.publisher)
        self.sealer = sealer_of((), DEV_VAULT_KEY)
        self.handlers = IntakeHandlers(
            self.submissions,
            PersonalVault(self.vault, self.sealer, self.clock, retention=RETENTION),
            self.clock,
            IntakeMetrics(CollectorRegistry()),
            org_id="sraphonthong",
            case_prefix="SPT",
            records=self.records,
            threads=self.threads,
            publisher=self.publisher,
            api_keys=frozenset({API_KEY}),
            line_secret=SECRET,
            line_window=timedelta(minutes=10),
            agencies={"public_works": "กองช่าง"},
        )


def line_event(
    event_id: str,
    *,
    user: str = "U" + "a" * 32,
    at: datetime = NOW,
    text: str | None = None,
    location: tuple[float, float, str] | None = None,
    image: str | None = None,
    sent: str = "image",
    redelivery: bool = False,
    reply_token: str = "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
    unsent: str | None = None,
) -> dict[str, object]:
    """A LINE webhook event as LINE sends it: a message (text, a pin, or with the message id
    `image` a photo, or what `sent` names: "audio", "video" or "file"), or with `unsent` the
    user taking that message id back."""
    base: dict[str, object] = {
        "mode": "active",
        "timestamp": int(at.timestamp() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": redelivery},
    }
    if unsent is not None:
        return {"type": "unsend", **base, "unsend": {"messageId": unsent}}
    if text is not None:
        message: dict[str, object] = {"id": f"m-{event_id}", "type": "text", "text": text}
    elif location is not None:
        lat, lon, address = location
        message = {
            "id": f"m-{event_id}",
            "type": "location",
            "title": "ตำแหน่ง",
            "address": address,
            "latitude": lat,
            "longitude": lon,
        }
    elif sent == "file":  # LINE names a file's content by no provider
        message = {"id": image or f"m-{event_id}", "type": "file"}
        message.update(fileName="คำร้อง.pdf", fileSize=2138)
    else:
        message = {
            "id": image or f"m-{event_id}",
            "type": sent,
            "contentProvider": {"type": "line"},
        }
        if sent in ("audio", "video"):
            message["duration"] = 4200
    return {"type": "message", **base, "replyToken": reply_token, "message": message}


def line_body(*events: dict[str, object]) -> bytes:
    import json

    return json.dumps(
        {"destination": "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "events": list(events)},
        ensure_ascii=False,
    ).encode("utf-8")


def contact(world: World, ref: str) -> dict[str, Any]:
    """The contact the vault keeps under `ref`, opened (as the personal endpoint would)."""
    entry = world.vault.entries[ref]
    assert entry.kind == "contact"
    value: dict[str, Any] = world.sealer.open(ref, entry.sealed)
    return value


def contacts(world: World) -> list[dict[str, Any]]:
    return [contact(world, ref) for ref in world.vault.of("contact")]


def words(world: World, ref: str) -> str:
    """The citizen's own words under `ref` in the vault."""
    value: str = world.sealer.open(ref, world.vault.entries[ref].sealed)
    return value


def signed(body: bytes, secret: str = SECRET) -> str:
    return signature(secret, body)


async def post_line(http: httpx.AsyncClient, body: bytes, secret: str = SECRET) -> httpx.Response:
    """A LINE webhook body posted to intake, signed as LINE signs it with `secret`."""
    return await http.post(
        "/channels/line/webhook",
        content=body,
        headers={"content-type": "application/json", "x-line-signature": signed(body, secret)},
    )
