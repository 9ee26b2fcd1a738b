"""What compliance's API refuses, and how: a project id that could not be a URL path
segment, another organisation's project (403, whatever its source), dates written in the
Buddhist Era (read as such; out of any era, 422), and fiscal years, numbers and offsets a
database could not take (a refusal naming them, never a 200 or a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from services.compliance.bootstrap import create_service
from services.compliance.settings import ComplianceSettings
from shared.clock import FixedClock
from shared.events.compliance import PROJECT_EVENT, ProjectId
from shared.roles import Role
from shared.topics import Topic
from tests.compliance.builders import NOW, event, handlers, hearing, registration
from tests.compliance.fakes import FakeAuditTrail, FakeProjectRepository
from tests.signing import EXECUTIVE, PLANNER, as_, sign_in

OTHER_PLANNER = as_(Role.PLANNER, subject="planner", org_id="another-sao")
OTHER_EXECUTIVE = as_(Role.EXECUTIVE, officer_id="palad", org_id="another-sao")


@pytest.fixture
def repo() -> FakeProjectRepository:
    return FakeProjectRepository()


@pytest.fixture
def trail() -> FakeAuditTrail:
    return FakeAuditTrail()


@pytest.fixture
async def api(
    repo: FakeProjectRepository, trail: FakeAuditTrail
) -> AsyncIterator[httpx.AsyncClient]:
    service = create_service(
        ComplianceSettings(), projects=repo, clock=FixedClock(NOW), audit_trail=trail
    )
    transport = httpx.ASGITransport(app=sign_in(service).asgi)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://compliance", headers=PLANNER
    ) as client:
        yield client


def project(pid: str, budget: Any = "12,500,000.00", **over: Any) -> dict[str, Any]:
    return {"project_id": pid, **registration(budget, **over)}


def fields(r: httpx.Response) -> list[str]:
    return [str(d.get("field")) for d in r.json().get("details", [])]


# ------------------------------------------------------------------ 5. project ids


@pytest.mark.parametrize("pid", ["P/1", "P/", "a/../b", "P?1", "P#1", "P%2F1", "P 1", "P.1"])
async def test_a_project_id_that_is_no_url_path_segment_is_refused(
    api: httpx.AsyncClient, repo: FakeProjectRepository, pid: str
) -> None:
    r = await api.post("/v1/projects", json=project(pid))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_failed" and fields(r) == ["project_id"]
    assert repo.store.docs == {} and repo.publisher.sent == []


def test_a_kafka_event_with_a_slash_in_its_project_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        event("P/1", 1, "registered", **registration())


@pytest.mark.parametrize(
    "pid",
    ["P-A", "SPT-P2569-001", "PRJ-ROAD-1", "H-AMEND", "SPT-P2569-B001", "org:P_1", "P-ถนนหมู่4"],
)
def test_the_ids_in_use_stay_valid(pid: str) -> None:
    assert TypeAdapter(ProjectId).validate_python(pid) == pid


async def test_a_project_is_read_and_changed_by_the_id_it_was_registered_with(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.post("/v1/projects", json=project("SPT-P2569-001"))).status_code == 201
    assert (await api.get("/v1/projects/SPT-P2569-001")).status_code == 200
    r = await api.post(
        "/v1/projects/SPT-P2569-001/events", json={"type": "stage_changed", "stage": "approved"}
    )
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------ 6. another organisation


@pytest.mark.parametrize(
    ("who", "body"),
    [
        (OTHER_PLANNER, {"type": "stage_changed", "stage": "approved"}),
        (OTHER_PLANNER, {"type": "participation_recorded", **hearing()}),
        (OTHER_EXECUTIVE, {"type": "waived", "requirement": "public_hearing", "reason": "x"}),
        (OTHER_PLANNER, {"type": "budget_changed", "budget": "1.00", "event_id": "e-1"}),
    ],
)
async def test_another_organisations_project_is_403_and_untouched(
    api: httpx.AsyncClient,
    repo: FakeProjectRepository,
    trail: FakeAuditTrail,
    who: dict[str, str],
    body: dict[str, Any],
) -> None:
    assert (await api.post("/v1/projects", json=project("P-A"))).status_code == 201
    before = (await api.get("/v1/projects/P-A")).json()
    sent = len(repo.publisher.sent)
    r = await api.post("/v1/projects/P-A/events", json=body, headers=who)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "forbidden"
    assert (await api.get("/v1/projects/P-A")).json() == before
    assert len(repo.publisher.sent) == sent and trail.records == {}


async def test_another_organisations_kafka_fed_project_is_403_not_a_source_conflict() -> None:
    h, repo = handlers()
    await h.on_project_event(event("P-K", 1, "registered", **registration()))
    service = create_service(
        ComplianceSettings(), projects=repo, clock=FixedClock(NOW), audit_trail=FakeAuditTrail()
    )
    transport = httpx.ASGITransport(app=sign_in(service).asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://compliance") as c:
        r = await c.post(
            "/v1/projects/P-K/events",
            json={"type": "stage_changed", "stage": "approved"},
            headers=OTHER_PLANNER,
        )
        assert r.status_code == 403, r.text
        # the organisation's own planner is told why it cannot: the source (409)
        r = await c.post(
            "/v1/projects/P-K/events",
            json={"type": "stage_changed", "stage": "approved"},
            headers=PLANNER,
        )
        assert r.status_code == 409, r.text


# ------------------------------------------------------------------ 4. Buddhist-Era dates


async def test_dates_in_the_buddhist_era_are_kept_in_the_common_era(
    api: httpx.AsyncClient, repo: FakeProjectRepository
) -> None:
    r = await api.post("/v1/projects", json=project("P-BE", planned_procurement_date="2569-03-01"))
    assert r.status_code == 201, r.text
    assert r.json()["planned_procurement_date"] == "2026-03-01"
    r = await api.post(
        "/v1/projects/P-BE/events",
        json={"type": "participation_recorded", **hearing(), "held_on": "๒๕๖๘-๑๑-๒๐"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["evidence"][0]["held_on"] == "2025-11-20"
    met = repo.publisher.on(Topic.COMPLIANCE_REQUIREMENT_MET)
    assert [m["payload"]["held_on"] for m in met] == ["2025-11-20"]  # on the wire: CE ISO
    public = repo.publisher.on(Topic.PUBLIC_PROJECTS)[-1]["payload"]
    assert public["participation"][0]["held_on"] == "2025-11-20"
    assert public["planned_procurement_date"] == "2026-03-01"


@pytest.mark.parametrize("held_on", ["3112-05-01", "1800-01-01", "2300-01-01"])
async def test_a_date_out_of_any_era_is_422_and_nothing_is_kept(
    api: httpx.AsyncClient, repo: FakeProjectRepository, held_on: str
) -> None:
    assert (await api.post("/v1/projects", json=project("P-D"))).status_code == 201
    before = (await api.get("/v1/projects/P-D")).json()
    sent = len(repo.publisher.sent)
    r = await api.post(
        "/v1/projects/P-D/events",
        json={"type": "participation_recorded", **hearing(), "held_on": held_on},
    )
    assert r.status_code == 422, r.text
    assert fields(r) == ["held_on"]
    assert (await api.get("/v1/projects/P-D")).json() == before
    assert len(repo.publisher.sent) == sent
    r = await api.post("/v1/projects", json=project("P-D2", planned_procurement_date=held_on))
    assert r.status_code == 422 and fields(r) == ["planned_procurement_date"]
    assert "P-D2" not in repo.store.docs


def test_events_already_stored_in_the_common_era_still_parse() -> None:
    raw = event("P-OLD", 2, "participation_recorded", **hearing()).model_dump_json()
    assert '"held_on":"2025-11-20"' in raw
    again = PROJECT_EVENT.validate_json(raw)
    assert again.payload.model_dump(mode="json")["held_on"] == "2025-11-20"


# ------------------------------------------------------------------ 7. numbers in a query


@pytest.mark.parametrize(
    "value", ["9" * 30, "2399", "2801", "²", "①", "٢٥٦٩", "２５６９", "9" * 5000, "-2569", "25 69"]
)
async def test_a_fiscal_year_filter_out_of_range_or_not_a_number_is_400(
    api: httpx.AsyncClient, value: str
) -> None:
    r = await api.get("/v1/projects", params={"fiscal_year": value})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_query" and fields(r) == ["fiscal_year"]


async def test_a_fiscal_year_in_thai_digits_is_read(api: httpx.AsyncClient) -> None:
    await api.post("/v1/projects", json=project("P-1"))
    for value in ("๒๕๖๙", "2569", "02569"):
        r = await api.get("/v1/projects", params={"fiscal_year": value})
        assert [p["project_id"] for p in r.json()["items"]] == ["P-1"], value


@pytest.mark.parametrize("year", ["9" * 30, "2399", "2801", "99999", "9" * 5000])
async def test_an_evidence_pack_of_no_possible_year_is_404(
    api: httpx.AsyncClient, year: str
) -> None:
    for suffix in ("", ".html", ".json"):
        r = await api.get(f"/v1/evidence/{year}{suffix}")
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "not_found"


@pytest.mark.parametrize("year", ["²", "①", "٢٥٦٩", "x", "-2569"])
async def test_an_evidence_pack_of_no_number_is_400(api: httpx.AsyncClient, year: str) -> None:
    r = await api.get(f"/v1/evidence/{year}.html")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_query" and fields(r) == ["fiscal_year"]


async def test_an_offset_past_any_register_is_400(api: httpx.AsyncClient) -> None:
    for path, headers in (("/v1/projects", PLANNER), ("/v1/audit", EXECUTIVE)):
        r = await api.get(path, params={"offset": str(10**30)}, headers=headers)
        assert r.status_code == 400, r.text
        assert fields(r) == ["offset"]
        ok = await api.get(path, params={"offset": "1000000"}, headers=headers)
        assert ok.status_code == 200, ok.text
