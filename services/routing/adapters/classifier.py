"""The category ranker: the shipped classifier, or the taxonomy's keywords without it.

The artifact is trained and shipped by tools/train_classifier.py; should it be missing
(a fresh checkout before training), routing still works on the taxonomy's keywords, and
says so in the log rather than refusing to start.
"""

from __future__ import annotations

import logging

from services.routing.domain.classifier import Classifier, KeywordRule
from services.routing.ports import CategoryRanker
from shared.taxonomy import CATEGORIES

log = logging.getLogger("ruam.routing.classifier")


def keyword_ranker() -> Classifier:
    rules = [
        KeywordRule(name=f"taxonomy:{c.code}", category=c.code, patterns=c.keywords, weight=0.6)
        for c in CATEGORIES
        if c.keywords
    ]
    return Classifier([], [], {}, rules, {"model": "taxonomy-keywords"})


def default_ranker() -> CategoryRanker:
    try:
        from services.routing.models import load_default_classifier

        return load_default_classifier()
    except (FileNotFoundError, ImportError) as exc:
        log.warning("classifier artifact unavailable (%s): ranking by taxonomy keywords", exc)
        return keyword_ranker()
