"""What insight stores keeps FerretDB v1's rules: no key with `.` or `$`, no array in an
array, integers for every count, and a document read back is the one written."""

from __future__ import annotations

from typing import Any

from services.insight.adapters.mongo_insight import (
    bucket_from_document,
    bucket_to_document,
    case_from_document,
    case_to_document,
)
from services.insight.domain import rules
from services.insight.domain.model import CaseFacts, CaseRecord
from tests.insight.builders import random_events


def portable(value: Any, path: str = "") -> list[str]:
    problems = []
    if isinstance(value, dict):
        for k, v in value.items():
            if "." in k or k.startswith("$"):
                problems.append(f"{path}.{k}: a dotted or $ key")
            problems += portable(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, list):
                problems.append(f"{path}[{i}]: an array in an array")
            problems += portable(v, f"{path}[{i}]")
    elif isinstance(value, float):
        problems.append(f"{path}: a float")
    return problems


def records() -> list[CaseRecord]:
    facts: dict[str, CaseFacts] = {}
    for e in random_events(40, seed=21):
        case_id = rules.case_of(e)
        assert case_id is not None
        facts[case_id] = rules.fold(facts.get(case_id) or CaseFacts(case_id, e.org_id), e)
    out = []
    for f in facts.values():
        c = rules.contribution(f)
        out.append(CaseRecord(f, ("e1", "e2"), c, rules.difference(c, {}), f"{f.case_id}#3"))
    return out


def test_cases_are_portable_and_read_back_as_written() -> None:
    for record in records():
        doc = case_to_document(record)
        assert portable(doc) == [], portable(doc)
        assert case_from_document(doc) == record


def test_buckets_are_portable_and_read_back_as_written() -> None:
    bucket = None
    for n, record in enumerate(records()):
        for bid, change in record.pending.items():
            if bid.endswith("|org|all"):
                bucket = rules.add(bucket, bid, change, f"t{n}") or bucket
    assert bucket is not None
    doc = bucket_to_document(bucket)
    assert portable(doc) == [] and all(isinstance(v, int) for v in doc["counts"].values())
    assert bucket_from_document(doc) == bucket
