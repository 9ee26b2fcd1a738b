"""Routing classifies what case.received carries, now the redacted text: on the classifier's
own held-out Traffy Fondue reports, redaction must not cost a hit@1.

Measured when case.received went redacted: 0.901 on the original words, 0.906 redacted
(192 reports; the classifier-v1 artifact with its shipped rules).
"""

from __future__ import annotations

import dataclasses

import pytest

from shared.redact import redact
from shared.thai import normalize_text

tc = pytest.importorskip("tools.train_classifier")


@pytest.mark.skipif(not tc.default_csv_path().exists(), reason="Traffy Fondue export not present")
def test_hit_at_1_on_what_case_received_carries_is_no_lower_than_on_the_original() -> None:
    from services.routing.models import load_default_classifier

    classifier = load_default_classifier()
    _, held_out = tc.split_reports(tc.load_reports())
    # What intake publishes: the text normalized, then redacted (SubmissionRecord.receive).
    published = [dataclasses.replace(r, text=redact(normalize_text(r.text))) for r in held_out]
    assert sum(p.text != r.text for p, r in zip(published, held_out, strict=True)) > 10
    original = tc.evaluate_classifier(classifier, held_out)["hit@1"]
    redacted = tc.evaluate_classifier(classifier, published)["hit@1"]
    print(f"\nhit@1 original {original:.3f}, as published {redacted:.3f}")
    assert redacted >= original
    assert redacted >= 0.88  # routing's acceptance floor (tests/routing/unit)
