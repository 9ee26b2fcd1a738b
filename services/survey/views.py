"""JSON shapes of the aggregates. The satisfaction API and the fiscal-year report both
build their figures here, from the same buckets, so they cannot disagree.
"""

from __future__ import annotations

from typing import Any

from services.survey.domain.model import Bucket, SurveyConfig, Tally


def question_labels(config: SurveyConfig) -> dict[str, tuple[str, str]]:
    """Question id -> (Thai, English) label; the case questionnaire's wording wins."""
    labels: dict[str, tuple[str, str]] = {}
    ordered = [config.case_questionnaire, *config.questionnaires.values()]
    for questionnaire in ordered:
        for q in questionnaire.questions:
            labels.setdefault(q.id, (q.label_th, q.label_en))
    return labels


def tally_view(t: Tally) -> dict[str, Any]:
    return {
        "count": t.count,
        "sum": t.total,
        "satisfied": t.satisfied,
        "mean": t.mean,
        "percent_satisfied": t.percent_satisfied,
    }


def question_views(bucket: Bucket, config: SurveyConfig) -> list[dict[str, Any]]:
    labels = question_labels(config)
    order = {qid: n for n, qid in enumerate(labels)}
    views = []
    for q in sorted(bucket.questions, key=lambda q: (order.get(q.question_id, 999), q.question_id)):
        th, en = labels.get(q.question_id, (q.question_id, q.question_id))
        view: dict[str, Any] = {
            "id": q.question_id,
            "type": q.kind,
            "label_th": th,
            "label_en": en,
            "distribution": dict(q.distribution),
        }
        if q.kind == "scale":
            view.update(tally_view(bucket.tally(q.question_id)))
        else:
            view["count"] = q.count
        views.append(view)
    return views


def slice_label(by: str, value: str, config: SurveyConfig) -> str:
    from services.survey.domain.rules import month_label_th

    labels = config.labels
    if by == "department":
        return labels.departments.get(value, value)
    if by == "channel":
        return labels.channels.get(value, value)
    if by == "org":
        return labels.org_names.get(value, value)
    if by == "month":
        return month_label_th(value)
    if by == "source":
        return {"case": "หลังปิดเรื่อง", "campaign": "การสำรวจทั่วไป"}.get(value, value)
    if by == "category":
        return _category_label(value)
    return value


def bucket_view(bucket: Bucket, config: SurveyConfig) -> dict[str, Any]:
    s = bucket.slice
    return {
        "by": s.by,
        "value": s.value,
        "label_th": slice_label(s.by, s.value, config),
        "responses": bucket.responses,
        "overall": tally_view(bucket.tally()),
        "questions": question_views(bucket, config),
    }


def _category_label(code: str) -> str:
    # The shared taxonomy names categories in Thai; a code it does not know (or a
    # deployment without it) is shown as the code.
    try:
        from shared.taxonomy import by_code

        return by_code(code).label_th
    except (ImportError, KeyError):
        return code
