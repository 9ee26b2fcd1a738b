"""The database metrics every service exports: which commands went by `_id` and which
were filtered on other fields (a scan on FerretDB v1), and how long they took."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from prometheus_client import CollectorRegistry

from shared.mongo import OperationCounter


def sent(counter: OperationCounter, request_id: int, name: str, body: dict[str, Any]) -> None:
    event = SimpleNamespace(command_name=name, command=body, request_id=request_id)
    counter.started(cast("Any", event))


def answered(counter: OperationCounter, request_id: int, micros: int) -> None:
    counter.succeeded(cast("Any", SimpleNamespace(request_id=request_id, duration_micros=micros)))


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_commands_by_id_are_not_counted_as_filtered_and_others_are() -> None:
    registry = CollectorRegistry()
    counter = OperationCounter(registry)
    by_id: list[tuple[str, dict[str, Any]]] = [
        ("find", {"find": "cases", "filter": {"_id": "SPT-1"}}),
        ("find", {"find": "cases", "filter": {"_id": {"$in": ["a", "b"]}}}),
        ("update", {"update": "cases", "updates": [{"q": {"_id": "a"}, "u": {}}]}),
        # the store's compare-and-set: a replacement on _id and version (by the index)
        ("update", {"update": "cases", "updates": [{"q": {"_id": "a", "version": 3}, "u": {}}]}),
        ("delete", {"delete": "cases_pending", "deletes": [{"q": {"_id": {"$in": ["x"]}}}]}),
        ("findAndModify", {"findAndModify": "counters", "query": {"_id": "case-2570"}}),
        ("aggregate", {"aggregate": "cases", "pipeline": [{"$match": {"_id": "a"}}]}),
        ("insert", {"insert": "cases", "documents": []}),
    ]
    filtered: list[tuple[str, dict[str, Any]]] = [
        ("find", {"find": "cases", "filter": {"status": "open"}}),
        ("find", {"find": "cases", "filter": {}}),
        ("update", {"update": "cases", "updates": [{"q": {"_id": "a", "version": "3"}}]}),
        ("update", {"update": "cases", "updates": [{"q": {"_id": "a", "n": True}, "u": {}}]}),
        ("update", {"update": "cases", "updates": [{"q": {"_id": "a", "at": {"$lt": 3}}}]}),
        (
            "update",
            {"update": "cases", "updates": [{"q": {"_id": "a", "v": 3}, "u": {"$set": {}}}]},
        ),
        ("aggregate", {"aggregate": "cases", "pipeline": [{"$group": {"_id": "$x"}}]}),
        ("count", {"count": "cases", "query": {"org_id": "sraphonthong"}}),
    ]
    for n, (name, body) in enumerate(by_id + filtered):
        sent(counter, n, name, body)
        answered(counter, n, 1500)
    scans = {
        (name, collection): value(
            registry, "ruam_db_filtered_operations_total", command=name, collection=collection
        )
        for name, collection in {("find", "cases"), ("update", "cases"), ("aggregate", "cases")}
        | {("count", "cases"), ("delete", "cases_pending"), ("findAndModify", "counters")}
    }
    assert scans == {
        ("find", "cases"): 2,
        ("update", "cases"): 4,
        ("aggregate", "cases"): 1,
        ("count", "cases"): 1,
        ("delete", "cases_pending"): 0,
        ("findAndModify", "counters"): 0,
    }
    finds = value(registry, "ruam_db_operations_total", command="find", collection="cases")
    seconds = value(registry, "ruam_db_operation_seconds_total", command="find", collection="cases")
    assert (finds, round(seconds, 6)) == (4, 0.006)


def test_an_answer_without_its_command_is_ignored() -> None:
    registry = CollectorRegistry()
    counter = OperationCounter(registry)
    answered(counter, 99, 1000)  # sent before the counter was there: nothing to add to
    sent(counter, 1, "ping", {"ping": 1})
    answered(counter, 1, 1000)
    assert value(registry, "ruam_db_operations_total", command="other", collection="") == 1
