"""A planner's projects through the console, over compliance on fakes."""

from __future__ import annotations

import httpx

from services.compliance.bootstrap import create_service as create_compliance
from services.compliance.settings import ComplianceSettings
from shared.auth import TokenVerifier
from shared.clock import FixedClock
from tests.compliance.fakes import FakeAuditTrail, FakeProjectRepository
from tests.console.world import CONSOLE, ISSUER, Browser, hidden, world
from tests.routing.unit.test_handlers import NOW


async def test_a_planner_registers_a_big_project_records_participation_and_may_not_waive() -> None:
    w = world()
    repo = FakeProjectRepository()
    compliance = create_compliance(
        ComplianceSettings(), projects=repo, clock=FixedClock(NOW), audit_trail=FakeAuditTrail()
    )
    compliance.api.state.verifier = TokenVerifier(ISSUER, "ruam", http=w.client)
    w.ports.apps[8004] = httpx.ASGITransport(app=compliance.asgi)
    browser = Browser(w)
    page = await browser.sign_in("planner")
    assert str(page.url) == f"{CONSOLE}/projects"
    created = await browser.post(
        "/projects",
        {
            "csrf": hidden(page.text)["csrf"],
            "project_id": "SPT-P2569-001",
            "name": "ถนนคอนกรีตสายบ้านสระโพน",
            "fiscal_year": "2569",
            "budget": "25,000,000.00",
            "funding_source": "เงินอุดหนุนเฉพาะกิจ",
            "stage": "planning",
        },
    )
    assert str(created.url) == f"{CONSOLE}/projects/SPT-P2569-001", created.text[-800:]
    assert "ลงทะเบียนโครงการแล้ว" in created.text and "25,000,000.00" in created.text
    assert "ต้อง" in created.text and "ขอยกเว้นข้อกำหนด" in created.text
    csrf = hidden(created.text)["csrf"]
    recorded = await browser.post(
        "/projects/SPT-P2569-001",
        {
            "csrf": csrf,
            "type": "participation_recorded",
            "record_id": "hearing-1",
            "kind": "public_hearing",
            "held_on": "2026-04-20",
            "participants_citizens": "85",
            "participants_community_leaders": "12",
            "issues": "แนวถนนผ่านที่นา\nการระบายน้ำ",
            "results": "ปรับแนวถนนเลี่ยงที่นา",
            "changes": "เพิ่มท่อลอดสองจุด",
            "evidence_ref": "รายงานการประชุม 3/2569",
        },
    )
    assert "บันทึกแล้ว" in recorded.text and "97 คน" in recorded.text
    waived = await browser.post(
        "/projects/SPT-P2569-001",
        {"csrf": csrf, "type": "waived", "requirement": "public_hearing", "reason": "เร่งด่วน"},
    )
    # Only ปลัด or นายก may waive: said in Thai, nothing changed.
    assert waived.status_code == 403 and "ไม่มีสิทธิ์" in waived.text
