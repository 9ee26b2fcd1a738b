"""A case's stored document: what is read back is the case that was saved, and what the
taxonomy already says (labels, an unchanged ranking) is not stored again with every case."""

from __future__ import annotations

from datetime import UTC, datetime

from services.routing.adapters.mongo_cases import from_document, to_document
from services.routing.domain.lifecycle import receive
from services.routing.domain.model import Case, CategoryScore
from shared.taxonomy import by_code
from tests.routing.fakes import shipped_directory

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def scored(code: str, score: float, label_th: str | None = None) -> CategoryScore:
    c = by_code(code)
    return CategoryScore(code, label_th or c.label_th, c.label_en, score, ("ถนน",))


def received(service_code: str | None, ranking: list[CategoryScore]) -> Case:
    case = Case(
        case_id="SPT-2569-000007",
        org_id="sraphonthong",
        kind="complaint",
        channel="open311",
        text="ถนนพัง หมู่ 1",
        received_at=NOW,
        service_code=service_code,
    )
    receive(case, ranking, shipped_directory(), {}, NOW)
    return case


def test_a_classified_case_stores_its_ranking_once_and_no_taxonomy_labels() -> None:
    case = received(None, [scored("road", 0.9), scored("footpath", 0.05)])
    doc = to_document(case)
    assert doc["ranking"] is None
    assert doc["categories"][0] == {"code": "road", "score": 0.9, "evidence": ["ถนน"]}
    back = from_document(doc)
    assert back.categories == case.categories and back.ranking == case.ranking


def test_the_citizens_choice_keeps_the_classifiers_own_ranking() -> None:
    case = received("lighting", [scored("road", 0.9), scored("lighting", 0.05)])
    assert case.categories != case.ranking
    back = from_document(to_document(case))
    assert back.categories == case.categories and back.ranking == case.ranking


def test_a_label_of_its_own_is_kept() -> None:
    case = received(None, [scored("road", 0.9, label_th="ถนนในหมู่บ้าน")])
    doc = to_document(case)
    assert doc["categories"][0]["label_th"] == "ถนนในหมู่บ้าน"
    assert from_document(doc).categories == case.categories


def test_documents_stored_before_keep_reading_the_same() -> None:
    case = received(None, [scored("road", 0.9)])
    doc = to_document(case)
    c = by_code("road")
    full = {"code": "road", "label_th": c.label_th, "label_en": c.label_en, "score": 0.9}
    older = {**doc, "categories": [full], "ranking": [full]}
    back = from_document(older)
    assert back.categories == back.ranking == [CategoryScore("road", c.label_th, c.label_en, 0.9)]
