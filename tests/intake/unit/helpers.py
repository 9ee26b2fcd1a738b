"""Building intake's handlers on fakes, and realistic Thai payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from services.intake.channels.line import signature
from services.intake.handlers import IntakeHandlers
from services.intake.metrics import IntakeMetrics
from shared.clock import FixedClock
from tests.fakes import FakePublisher
from tests.intake.fakes import (
    FakeContacts,
    FakeDeadLetters,
    FakeRecords,
    FakeSubmissions,
    FakeThreads,
)

NOW = datetime(2026, 5, 16, 3, 0, tzinfo=UTC)  # 10:00 in Bangkok, FY2569
SECRET = "test-line-secret"
API_KEY = "test-key"


@dataclass
class World:
    publisher: FakePublisher = field(default_factory=FakePublisher)
    contacts: FakeContacts = field(default_factory=FakeContacts)
    records: FakeRecords = field(default_factory=FakeRecords)
    threads: FakeThreads = field(default_factory=FakeThreads)
    dead: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    clock: FixedClock = field(default_factory=lambda: FixedClock(NOW))

    def __post_init__(self) -> None:
        self.submissions = FakeSubmissions(self.publisher)
        self.handlers = IntakeHandlers(
            self.submissions,
            self.contacts,
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
    redelivery: bool = False,
) -> dict[str, object]:
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
    else:
        message = {
            "id": image or f"m-{event_id}",
            "type": "image",
            "contentProvider": {"type": "line"},
        }
    return {
        "type": "message",
        "mode": "active",
        "timestamp": int(at.timestamp() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": redelivery},
        "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
        "message": message,
    }


def line_body(*events: dict[str, object]) -> bytes:
    import json

    return json.dumps(
        {"destination": "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "events": list(events)},
        ensure_ascii=False,
    ).encode("utf-8")


def signed(body: bytes, secret: str = SECRET) -> str:
    return signature(secret, body)
