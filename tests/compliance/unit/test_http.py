"""The HTTP API on fakes (no broker, no database): manual entry, refusals, reading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.compliance.bootstrap import create_service
from services.compliance.settings import ComplianceSettings
from shared.clock import FixedClock
from shared.topics import Topic
from tests.compliance.builders import NOW, hearing, registration
from tests.compliance.fakes import FakeAuditTrail, FakeProjectRepository
from tests.signing import EXECUTIVE, PLANNER, sign_in


@pytest.fixture
def repo() -> FakeProjectRepository:
    return FakeProjectRepository()


@pytest.fixture
async def api(repo: FakeProjectRepository) -> AsyncIterator[httpx.AsyncClient]:
    service = create_service(
        ComplianceSettings(), projects=repo, clock=FixedClock(NOW), audit_trail=FakeAuditTrail()
    )
    transport = httpx.ASGITransport(app=sign_in(service).asgi)
    # A planner of the organisation; waivers are sent as the ปลัด.
    async with httpx.AsyncClient(
        transport=transport, base_url="http://compliance", headers=PLANNER
    ) as client:
        yield client


def project(pid: str, budget: Any = "12,500,000.00", **over: Any) -> dict[str, Any]:
    return {"project_id": pid, "org_id": "sraphonthong", **registration(budget, **over)}


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {r["kind"]: r["status"] for r in body["requirements"]}


@pytest.mark.parametrize(
    ("budget", "raises"),
    [
        ("10,000,000.00", False),
        ("10,000,000.01", True),
        ("๑๐,๐๐๐,๐๐๐.๐๑", True),
        (10_000_000, False),
        (10_000_001, True),
    ],
)
async def test_the_threshold_is_more_than_ten_million(
    api: httpx.AsyncClient, budget: Any, raises: bool
) -> None:
    r = await api.post("/v1/projects", json=project("P-T", budget))
    assert r.status_code == 201, r.text
    assert r.json()["requires_participation"] is raises
    assert len(r.json()["requirements"]) == (3 if raises else 0)


async def test_a_key_policy_project_of_fifty_thousand_baht_raises_them(
    api: httpx.AsyncClient,
) -> None:
    r = await api.post("/v1/projects", json=project("P-K", "50,000.00", key_policy=True))
    assert statuses(r.json()) == {
        "public_hearing": "open",
        "inspection_committee_participation": "open",
        "public_report_back": "open",
    }
    assert r.json()["requirements"][0]["due_stage"] == "procurement"


async def test_amendment_procurement_hearing_through_http(
    api: httpx.AsyncClient, repo: FakeProjectRepository
) -> None:
    r = await api.post("/v1/projects", json=project("P-A", "9,000,000.00"))
    assert r.json()["requirements"] == []
    amended = await api.post(
        "/v1/projects/P-A/events",
        json={"type": "budget_changed", "budget": "12,000,000.00", "event_id": "amend-1"},
    )
    assert amended.status_code == 200 and amended.json()["budget"] == "12,000,000.00"
    assert set(statuses(amended.json()).values()) == {"open"}
    again = await api.post(
        "/v1/projects/P-A/events",
        json={"type": "budget_changed", "budget": "12,000,000.00", "event_id": "amend-1"},
    )
    assert again.json()["duplicate"] is True and len(again.json()["timeline"]) == 2

    moved = await api.post(
        "/v1/projects/P-A/events", json={"type": "stage_changed", "stage": "procurement"}
    )
    assert [(v["code"], v["severity"]) for v in moved.json()["violations"]] == [
        ("procurement_without_public_hearing", "high")
    ]
    met = await api.post(
        "/v1/projects/P-A/events", json={"type": "participation_recorded", **hearing()}
    )
    assert statuses(met.json())["public_hearing"] == "met"
    assert met.json()["evidence"][0]["participants_total"] == 97
    assert len(repo.publisher.on(Topic.COMPLIANCE_VIOLATION)) == 1
    assert [
        e["payload"]["requirement"] for e in repo.publisher.on(Topic.COMPLIANCE_REQUIREMENT_MET)
    ] == ["public_hearing"]
    public = repo.publisher.on(Topic.PUBLIC_PROJECTS)[-1]["payload"]
    assert "recorded_by" not in str(public) and public["requires_participation"] is True

    got = await api.get("/v1/projects/P-A")
    assert got.json()["applied_version"] == 4 and got.json()["stage"] == "procurement"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budget": 12_000_000.5}, "budget"),
        ({"budget": 12_000_000.0}, "budget"),
        ({"budget": -1}, "budget"),
        ({"budget": "-12,000,000.00"}, "budget"),
        ({"budget": "1.001"}, "budget"),
        ({"stage": "tendering"}, "stage"),
        ({"fiscal_year": 2025}, "fiscal_year"),
    ],
)
async def test_bad_registrations_are_refused_with_422_naming_the_field(
    api: httpx.AsyncClient, repo: FakeProjectRepository, change: dict[str, Any], field: str
) -> None:
    r = await api.post("/v1/projects", json={**project("P-X"), **change})
    assert r.status_code == 422, r.text
    assert field in [d["field"] for d in r.json()["details"]]
    assert repo.store.docs == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "budget_changed", "budget": 1.5}, "budget"),
        ({"type": "budget_changed", "budget": "-3"}, "budget"),
        ({"type": "stage_changed", "stage": "done"}, "stage"),
        ({"type": "renamed", "name": "x"}, "type"),
        ({"type": "waived", "requirement": "public_hearing"}, "reason"),
    ],
)
async def test_bad_events_are_refused_with_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    await api.post("/v1/projects", json=project("P-E"))
    r = await api.post("/v1/projects/P-E/events", json=body)
    assert r.status_code == 422, r.text
    assert field in [d["field"] for d in r.json()["details"]]


async def test_conflicts_not_found_and_idempotent_registration(api: httpx.AsyncClient) -> None:
    first = await api.post("/v1/projects", json=project("P-R"))
    again = await api.post("/v1/projects", json=project("P-R"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["timeline"] == first.json()["timeline"]
    other = await api.post("/v1/projects", json=project("P-R", "1.00"))
    assert other.status_code == 409
    missing = await api.post(
        "/v1/projects/NOPE/events", json={"type": "stage_changed", "stage": "approved"}
    )
    assert missing.status_code == 404
    assert (await api.get("/v1/projects/NOPE")).status_code == 404
    waive = await api.post(
        "/v1/projects/P-R/events",
        json={"type": "waived", "requirement": "no_such", "reason": "x"},
        headers=EXECUTIVE,
    )
    assert waive.status_code == 409
    assert (await api.post("/v1/projects", content=b"{")).status_code == 400


async def test_listing_filters_and_the_evidence_pack(api: httpx.AsyncClient) -> None:
    await api.post("/v1/projects", json=project("P-1"))
    await api.post("/v1/projects", json=project("P-2", "500,000.00"))
    await api.post("/v1/projects", json=project("P-3", "20,000,000", fiscal_year=2570))
    await api.post("/v1/projects/P-1/events", json={"type": "participation_recorded", **hearing()})
    await api.post(
        "/v1/projects/P-1/events",
        json={"type": "waived", "requirement": "public_report_back", "reason": "รวมในรายงานประจำปี"},
        headers=EXECUTIVE,
    )

    listed = await api.get(
        "/v1/projects", params={"requires_participation": "true", "fiscal_year": "๒๕๖๙"}
    )
    assert [p["project_id"] for p in listed.json()["items"]] == ["P-1"]
    by_stage = await api.get("/v1/projects", params={"stage": "planning"})
    assert len(by_stage.json()["items"]) == 3
    assert (await api.get("/v1/projects", params={"stage": "x"})).status_code == 400

    pack = (await api.get("/v1/evidence/2569")).json()
    assert [p["project_id"] for p in pack["projects"]] == ["P-1"]
    assert pack["summary"] == {
        "projects": 1,
        "open": 1,
        "met": 1,
        "waived": 1,
        "violations": 0,
        "participants": 97,
    }
    evidence = pack["projects"][0]["evidence"][0]
    assert evidence["issues"] and evidence["results"] and evidence["changes"]
    assert evidence["participants"]["citizens"] == 86

    page = await api.get("/v1/evidence/2569.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "20 พฤศจิกายน 2568" in page.text  # held 2025-11-20, in the Buddhist Era
    assert "12,500,000.00 บาท" in page.text and "ประชาชน 86 คน" in page.text
    assert "รวมในรายงานประจำปี" in page.text
