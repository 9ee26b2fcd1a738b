"""Routing's in-memory working set of open cases: loads, due timers, duplicate candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from services.routing.adapters.open_cases import OpenCases
from services.routing.metrics import RoutingMetrics

T0 = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def entry(n: int, **over: Any) -> dict[str, Any]:
    return {
        "_id": f"C-{n:03d}",
        "open": True,
        "received_at": T0 + timedelta(minutes=n),
        "officer_id": f"o{n % 2}",
        "category": "road",
        "lat": 15.0,
        "lon": 103.0,
        "village_no": 4,
        "text": "ถนนชำรุด",
        "next_timer_at": T0 + timedelta(hours=n),
        **over,
    }


def test_loads_follow_saves_and_closing() -> None:
    cases = OpenCases()
    cases.replace_all([entry(n) for n in range(6)])
    assert cases.loads() == {"o0": 3, "o1": 3}
    cases.put(entry(1, officer_id="o0"))  # reassigned
    cases.put(entry(2, open=False))  # closed
    assert cases.loads() == {"o0": 3, "o1": 2} and len(cases) == 5


def test_due_timers_come_earliest_first_and_follow_changes() -> None:
    cases = OpenCases()
    cases.replace_all([entry(n) for n in range(5)])
    assert cases.due(T0 + timedelta(hours=2, minutes=1), 10) == ["C-000", "C-001", "C-002"]
    cases.put(entry(0, next_timer_at=T0 + timedelta(days=1)))  # fired: next timer later
    cases.put(entry(1, open=False))
    assert cases.due(T0 + timedelta(hours=2, minutes=1), 10) == ["C-002"]
    assert cases.due(T0 + timedelta(hours=2, minutes=1), 10) == ["C-002"]  # until saved


def test_candidates_are_the_oldest_nearby_or_in_the_village_whatever_is_saved_later() -> None:
    cases = OpenCases()
    far = {"lat": 15.5, "lon": 103.5, "village_no": 9}
    cases.replace_all([entry(n) for n in range(100)] + [entry(200, **far)])
    cases.put(entry(3, text="แก้ไขแล้ว"))  # a later save keeps its place among the oldest
    found = cases.candidates("NEW", "road", 15.0, 103.0, 4, 5)
    assert [c.case_id for c in found] == ["C-000", "C-001", "C-002", "C-003", "C-004"]
    assert found[3].text == "แก้ไขแล้ว"
    assert [c.case_id for c in cases.candidates("C-000", "road", 15.0, 103.0, None, 2)] == [
        "C-001",
        "C-002",
    ]
    assert [c.case_id for c in cases.candidates("NEW", "water", 15.5, 103.5, 9, 5)] == ["C-200"]


def test_candidates_near_and_in_the_village_come_oldest_first_each_once() -> None:
    cases = OpenCases()
    near_elsewhere = {"village_no": 7}  # same category and place, another village
    far_same_village = {"lat": 15.5, "lon": 103.5}  # same village, far away
    cases.replace_all(
        [entry(n, **near_elsewhere) for n in (1, 4, 7)]
        + [entry(n, **far_same_village) for n in (2, 5, 8)]
        + [entry(n) for n in (3, 6, 9)]  # near and in the village: in both lists
    )
    found = cases.candidates("NEW", "road", 15.0, 103.0, 4, 7)
    assert [c.case_id for c in found] == [f"C-{n:03d}" for n in range(1, 8)]
    assert [c.case_id for c in cases.candidates("NEW", "road", 15.0, 103.0, 4, 20)] == [
        f"C-{n:03d}" for n in range(1, 10)
    ]


def test_the_standing_counts_open_overdue_and_the_oldest_nobody_acknowledged() -> None:
    cases = OpenCases()
    cases.replace_all(
        [
            entry(1, department="eng", status="assigned", overdue_from=T0 + timedelta(days=15)),
            entry(2, department="eng", status="in_progress", overdue_from=T0),
            entry(3, department="fin", status="acknowledged", overdue_from=T0),
            entry(4, department="fin", status="transferred"),
            entry(5, department="eng", status="assigned", open=False),
        ]
    )
    standing = cases.standing(T0 + timedelta(days=1))
    assert standing.open == {("eng", "assigned"): 1, ("eng", "in_progress"): 1,
                             ("fin", "acknowledged"): 1, ("fin", "transferred"): 1}  # fmt: skip
    assert standing.overdue == {"eng": 1, "fin": 1}
    assert standing.oldest_unacknowledged == T0 + timedelta(minutes=1)
    cases.put(entry(1, department="eng", status="acknowledged"))
    assert cases.standing(T0).oldest_unacknowledged == T0 + timedelta(minutes=4)


def test_the_gauges_show_every_known_department_even_with_nothing_overdue() -> None:
    registry = CollectorRegistry()
    metrics = RoutingMetrics(registry)
    cases = OpenCases()
    cases.replace_all([entry(1, department="eng", status="assigned", overdue_from=T0)])
    now = T0 + timedelta(hours=2)
    metrics.show(cases.standing(now), now, {"eng", "fin"})

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("ruam_cases_open", department="eng", status="assigned") == 1
    assert value("ruam_cases_overdue", department="eng") == 1
    assert value("ruam_cases_overdue", department="fin") == 0
    assert value("ruam_case_oldest_unacknowledged_seconds") == 7140  # 1 h 59 min
    cases.put(entry(1, department="eng", status="resolved", open=False))
    metrics.show(cases.standing(now), now, {"eng", "fin"})
    assert value("ruam_cases_open", department="eng", status="assigned") is None
    assert value("ruam_cases_overdue", department="eng") == 0
    assert value("ruam_case_oldest_unacknowledged_seconds") == 0
