"""tools/bench.py's submissions: the short report the curve uses, and the real reports its
extra round sends, each one a submission intake accepts (the bench waits for every one to
become a case)."""

from __future__ import annotations

import json

import pytest

from services.intake.domain.model import Submission
from shared.events.intake import RawPayloadReceived
from tools.bench import TEXT, burst_texts, raw_submission
from tools.train_classifier import default_csv_path, load_reports


def _text(raw: bytes) -> str:
    event = RawPayloadReceived.model_validate_json(raw)
    return str(json.loads(event.payload.body)["text"])


def test_the_short_report_is_the_one_text() -> None:
    assert burst_texts("short") == (TEXT,)
    assert {_text(raw_submission("r", n)) for n in range(5)} == {TEXT}


@pytest.mark.skipif(not default_csv_path().exists(), reason="Traffy Fondue export not present")
def test_real_reports_are_those_intake_accepts_sent_in_turn() -> None:
    texts = burst_texts("traffy")
    every = [r.text for r in load_reports()]
    refused = [t for t in every if t not in texts]
    assert texts and refused, "some of the export is refused (empty texts), the rest is sent"
    for text in texts:
        Submission.model_validate(
            {"channel": "web", "kind": "complaint", "text": text, "channel_message_id": "m"}
        )
    sent = [_text(raw_submission("r", n, texts)) for n in range(len(texts) + 2)]
    assert sent[: len(texts)] == list(texts)
    assert sent[len(texts) :] == list(texts[:2])
