"""Builders of project events for compliance tests (Kafka envelopes and HTTP bodies)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from services.compliance.adapters.config_files import load_policies
from services.compliance.domain.policy import Policies
from services.compliance.handlers import ComplianceHandlers
from services.compliance.metrics import ComplianceMetrics
from services.compliance.settings import CONFIG_DIR
from shared.clock import FixedClock
from shared.events.compliance import (
    PROJECT_EVENT,
    ProjectEvent,
    project_event_id,
)
from tests.compliance.fakes import FakeAuditTrail, FakeProjectRepository

ORG = "sraphonthong"
T0 = datetime(2025, 11, 3, 2, 0, tzinfo=UTC)  # FY2569
NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)

TYPES = {
    "registered": "ProjectRegistered",
    "budget_changed": "ProjectBudgetChanged",
    "stage_changed": "ProjectStageChanged",
    "flagged": "ProjectFlagged",
    "waived": "ProjectRequirementWaived",
    "participation_recorded": "ParticipationRecorded",
}


def policies() -> Policies:
    return load_policies(CONFIG_DIR)


def handlers(
    repo: FakeProjectRepository | None = None, clock: FixedClock | None = None
) -> tuple[ComplianceHandlers, FakeProjectRepository]:
    repo = repo or FakeProjectRepository()
    h = ComplianceHandlers(
        repo,
        policies(),
        clock or FixedClock(NOW),
        ComplianceMetrics(CollectorRegistry()),
        FakeAuditTrail(),
    )
    return h, repo


def registration(budget: Any = "12,500,000.00", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "ก่อสร้างถนนคอนกรีตเสริมเหล็ก หมู่ที่ 4",
        "fiscal_year": 2569,
        "budget": budget,
        "funding_source": "เงินอุดหนุนเฉพาะกิจ",
        "key_policy": False,
        "key_mission": False,
        "stage": "planning",
    }
    body.update(over)
    return body


def hearing(record_id: str = "hearing-1", kind: str = "public_hearing") -> dict[str, Any]:
    return {
        "record_id": record_id,
        "kind": kind,
        "held_on": "2025-11-20",
        "participants": {"citizens": 86, "community_leaders": 9, "private_sector": 2},
        "evidence_ref": "minutes/SPT-2569-ph-001.pdf",
        "issues": ["แนวเขตทางผ่านที่นา", "การระบายน้ำช่วงฤดูฝน"],
        "results": "เห็นชอบให้ก่อสร้าง โดยเพิ่มท่อลอดเหลี่ยม 2 จุด",
        "changes": "ปรับแบบเพิ่มท่อระบายน้ำ 2 จุด ตามข้อเสนอของที่ประชุม",
    }


def raw(project_id: str, version: int, what: str, /, **fields: Any) -> dict[str, Any]:
    """A project event as the planning system would put it on Kafka (a JSON object)."""
    return {
        "event_id": str(project_event_id(project_id, version)),
        "type": TYPES[what],
        "org_id": fields.pop("org_id", ORG),
        "occurred_at": (T0 + timedelta(days=version)).isoformat(),
        "payload": {"project_id": project_id, "version": version, **fields},
    }


def event(project_id: str, version: int, what: str, /, **fields: Any) -> ProjectEvent:
    return PROJECT_EVENT.validate_python(raw(project_id, version, what, **fields))
