"""Adapter: load the shipped classifier artifact and keyword rules from disk.

Kept deliberately tiny; all logic lives in ``services.routing.domain.classifier``.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from services.routing.domain.classifier import Classifier, KeywordRule, parse_rules

_HERE = Path(__file__).resolve().parent
DEFAULT_MODEL_PATH: Path = _HERE / "classifier-v1.json"
DEFAULT_RULES_PATH: Path = _HERE.parent / "config" / "keyword_rules.yaml"


def load_params(path: str | os.PathLike[str] = DEFAULT_MODEL_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        params: dict[str, Any] = json.load(fh)
    return params


def load_rules(path: str | os.PathLike[str] = DEFAULT_RULES_PATH) -> list[KeywordRule]:
    with open(path, encoding="utf-8") as fh:
        return parse_rules(yaml.safe_load(fh))


@lru_cache(maxsize=1)
def load_default_classifier() -> Classifier:
    """The shipped model + rules (cached; ``Classifier`` is immutable)."""
    return Classifier.from_params(load_params(DEFAULT_MODEL_PATH), load_rules(DEFAULT_RULES_PATH))
