"""Train the Ruam routing classifier from the Traffy Fondue sample and export it.

Usage::

    .venv/bin/python -m tools.train_classifier            # tune (CV on train), fit, export
    .venv/bin/python -m tools.train_classifier --no-tune  # use the default hyper-parameters

The CSV is read in place (``RUAM_TRAFFY_CSV``, default
``<repo>/../shared/data/traffy-fondue-2023-05-16.csv``); no report text is ever
written into the repository: the artifact holds only vocabulary statistics and
weights.

Split: labelled rows (non-empty ``type``) with non-empty ``description`` are
held out when ``sha256(ticket_id) % 5 == 0`` (~20 %).  Hyper-parameters are
chosen by 5-fold cross-validation *inside* the training part only; the shipped
artifact is fitted on the training part only, so the held-out hit@1 printed
here (and asserted by the unit tests) is an honest estimate.

Metric: hit@k = the fraction of held-out reports for which one of the top-k
predicted categories is among the categories the citizen chose.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # allow `python tools/train_classifier.py`
    sys.path.insert(0, str(REPO_ROOT))

from services.routing.domain.classifier import (  # noqa: E402
    CHAR_NGRAM_RANGE,
    PARAMS_FORMAT,
    Classifier,
    extract_features,
    normalize_text,
    tokenize,
)
from shared.taxonomy import by_label_th  # noqa: E402

MODEL_VERSION = "classifier-v1"
DEFAULT_OUT = REPO_ROOT / "services" / "routing" / "models" / "classifier-v1.json"
SPLIT_RULE = "holdout iff int(sha256(ticket_id utf-8).hexdigest(), 16) % 5 == 0"
HOLDOUT_MOD = 5


def default_csv_path() -> Path:
    env = os.environ.get("RUAM_TRAFFY_CSV")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data" / "traffy-fondue-2023-05-16.csv"


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    ticket_id: str
    text: str
    labels: tuple[str, ...]  # category codes chosen by the citizen (may be empty)


def parse_type_field(raw: str) -> tuple[str, ...]:
    """``"{ถนน,ทางเท้า}"`` -> ``("road", "footpath")`` (unique, in order)."""
    inner = (raw or "").strip().strip("{}")
    codes: list[str] = []
    for label in inner.split(","):
        label = label.strip().strip('"')
        if label:
            code = by_label_th(label).code
            if code not in codes:
                codes.append(code)
    return tuple(codes)


def load_reports(path: str | os.PathLike[str] | None = None) -> list[Report]:
    p = Path(path) if path is not None else default_csv_path()
    with p.open(encoding="utf-8", newline="") as fh:
        return [
            Report(
                ticket_id=(row.get("ticket_id") or "").strip(),
                text=row.get("description") or "",
                labels=parse_type_field(row.get("type") or ""),
            )
            for row in csv.DictReader(fh)
        ]


def is_holdout(ticket_id: str) -> bool:
    """Stable ~20 % hold-out membership from the ticket id alone."""
    return int(hashlib.sha256(ticket_id.encode("utf-8")).hexdigest(), 16) % HOLDOUT_MOD == 0


def usable(r: Report) -> bool:
    return bool(r.labels) and bool(normalize_text(r.text)) and bool(r.ticket_id)


def split_reports(reports: Iterable[Report]) -> tuple[list[Report], list[Report]]:
    """(train, holdout) among labelled rows with non-empty text."""
    train: list[Report] = []
    hold: list[Report] = []
    for r in reports:
        if usable(r):
            (hold if is_holdout(r.ticket_id) else train).append(r)
    return train, hold


def hit_at_k(ranked: Sequence[Sequence[str]], gold: Sequence[Iterable[str]], k: int) -> float:
    if not ranked:
        return float("nan")
    hits = sum(1 for pred, g in zip(ranked, gold, strict=True) if set(pred[:k]) & set(g))
    return hits / len(ranked)


def evaluate_classifier(clf: Classifier, reports: Sequence[Report]) -> dict[str, float]:
    ranked = [[rc.code for rc in clf.rank(r.text, top_k=3)] for r in reports]
    gold = [r.labels for r in reports]
    return {
        "n": len(reports),
        "hit@1": hit_at_k(ranked, gold, 1),
        "hit@3": hit_at_k(ranked, gold, 3),
    }


# ---------------------------------------------------------------------------
# Features -> matrices (mirrors Classifier._vectorize exactly)
# ---------------------------------------------------------------------------


Feats = list[tuple[Counter[str], Counter[str]]]


@dataclass
class HParams:
    # defaults = the values the CV grid search selected (so --no-tune reproduces the artifact)
    C: float = 32.0
    char_weight: float = 1.0
    word_weight: float = 1.0
    min_df: int = 4
    class_weight: str | None = "balanced"
    prune: float = (
        0.2  # |coef| below this is dropped from the artifact (CV-neutral, ~1 MB instead of 3.4)
    )


def featurize(reports: Sequence[Report]) -> Feats:
    out = []
    for r in reports:
        _, w, c = extract_features(r.text)
        out.append((w, c))
    return out


class BlockVectorizer:
    """Sublinear TF-IDF (sklearn-style smooth idf) + L2 per block, times a block weight."""

    def __init__(self, min_df: int, weights: dict[str, float]) -> None:
        self.min_df = min_df
        self.weights = weights
        self.vocab: dict[str, dict[str, int]] = {}
        self.idf: dict[str, list[float]] = {}

    def fit(self, feats: Sequence[tuple[Counter[str], Counter[str]]]) -> BlockVectorizer:
        n = len(feats)
        for bi, name in enumerate(("word", "char")):
            df: Counter[str] = Counter()
            for f in feats:
                df.update(f[bi].keys())
            terms = sorted(t for t, d in df.items() if d >= self.min_df)
            self.vocab[name] = {t: i for i, t in enumerate(terms)}
            self.idf[name] = [math.log((1 + n) / (1 + df[t])) + 1.0 for t in terms]
        return self

    def transform(self, feats: Sequence[tuple[Counter[str], Counter[str]]]) -> Any:  # scipy csr
        import numpy as np
        from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

        offset = {"word": 0, "char": len(self.vocab["word"])}
        dim = offset["char"] + len(self.vocab["char"])
        rows, cols, vals = [], [], []
        for ri, f in enumerate(feats):
            for bi, name in enumerate(("word", "char")):
                voc, idf, w = self.vocab[name], self.idf[name], self.weights[name]
                entries = [
                    (voc[t], (1.0 + math.log(c)) * idf[voc[t]])
                    for t, c in f[bi].items()
                    if t in voc
                ]
                norm = math.sqrt(sum(v * v for _, v in entries))
                if norm > 0:
                    for j, v in entries:
                        rows.append(ri)
                        cols.append(offset[name] + j)
                        vals.append(w * v / norm)
        return csr_matrix(
            (np.array(vals), (np.array(rows), np.array(cols))), shape=(len(feats), dim)
        )


def _fit_ovr(X: Any, Y: Any, hp: HParams) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    base = LogisticRegression(
        C=hp.C, solver="liblinear", class_weight=hp.class_weight, max_iter=2000, random_state=0
    )
    return OneVsRestClassifier(base).fit(X, Y)


def _top_codes(scores: Any, classes: Sequence[str], k: int) -> list[list[str]]:
    import numpy as np

    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[classes[j] for j in row] for row in order]


def _label_matrix(reports: Sequence[Report], classes: Sequence[str]) -> Any:
    import numpy as np

    idx = {c: i for i, c in enumerate(classes)}
    Y = np.zeros((len(reports), len(classes)), dtype=int)
    for i, r in enumerate(reports):
        for c in r.labels:
            if c in idx:
                Y[i, idx[c]] = 1
    return Y


def _classes_of(reports: Sequence[Report]) -> list[str]:
    counts = Counter(c for r in reports for c in r.labels)
    # keep classes with at least 2 positive examples (a 1-example class cannot be learned/validated)
    return sorted(c for c, n in counts.items() if n >= 2)


def fit_model(
    reports: Sequence[Report], hp: HParams, feats: Feats | None = None
) -> tuple[BlockVectorizer, list[str], Any]:
    feats = feats if feats is not None else featurize(reports)
    vec = BlockVectorizer(hp.min_df, {"word": hp.word_weight, "char": hp.char_weight}).fit(feats)
    X = vec.transform(feats)
    classes = _classes_of(reports)
    Y = _label_matrix(reports, classes)
    model = _fit_ovr(X, Y, hp)
    return vec, classes, model


def cross_validate(
    reports: Sequence[Report], hp: HParams, folds: int = 5, feats: Feats | None = None
) -> float:
    """Mean hit@1 over folds assigned by a (different) stable hash of the ticket id."""
    feats = feats if feats is not None else featurize(reports)
    fold_of = [
        int(hashlib.sha256(("cv:" + r.ticket_id).encode()).hexdigest(), 16) % folds for r in reports
    ]
    scores = []
    for k in range(folds):
        tr = [i for i, f in enumerate(fold_of) if f != k]
        te = [i for i, f in enumerate(fold_of) if f == k]
        vec, classes, model = fit_model([reports[i] for i in tr], hp, [feats[i] for i in tr])
        P = model.decision_function(vec.transform([feats[i] for i in te]))
        top = _top_codes(P, classes, 1)
        scores.append(hit_at_k(top, [reports[i].labels for i in te], 1))
    return sum(scores) / len(scores)


def fit_temperature(z: Any, Y: Any) -> float:
    """Temperature T minimising the mean binary log-loss of sigmoid(z / T) (out-of-fold margins)."""
    import numpy as np

    best_t, best_loss = 1.0, float("inf")
    for t in np.geomspace(0.5, 20.0, 80):
        p = 1.0 / (1.0 + np.exp(-z / t))
        p = np.clip(p, 1e-9, 1 - 1e-9)
        loss = float(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean())
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def cross_validate_served(
    reports: Sequence[Report],
    hp: HParams,
    rules: Sequence[Any],
    folds: int = 5,
    feats: Feats | None = None,
) -> tuple[float, float, float]:
    """5-fold CV inside the training part of the exported pure-Python classifier.

    Returns ``(temperature, hit@1 model only, hit@1 model + rules)``; the
    temperature is fitted on the out-of-fold margins (so scores are
    calibrated-ish probabilities) and then used for the rule-combined figure.
    """
    import numpy as np

    feats = feats if feats is not None else featurize(reports)
    fold_of = [
        int(hashlib.sha256(("cv:" + r.ticket_id).encode()).hexdigest(), 16) % folds for r in reports
    ]
    all_classes = _classes_of(reports)
    zs, ys, fitted = [], [], []
    for k in range(folds):
        tr = [i for i, f in enumerate(fold_of) if f != k]
        te = [i for i, f in enumerate(fold_of) if f == k]
        vec, classes, model = fit_model([reports[i] for i in tr], hp, [feats[i] for i in tr])
        d = model.decision_function(vec.transform([feats[i] for i in te]))
        for c in all_classes:
            if c in classes:
                zs.append(d[:, classes.index(c)])
                ys.append(_label_matrix([reports[i] for i in te], [c])[:, 0])
        fitted.append((export_params(vec, classes, model, hp, {}), [reports[i] for i in te]))
    temperature = fit_temperature(np.concatenate(zs), np.concatenate(ys))
    plain: list[float] = []
    ruled: list[float] = []
    for params, te_reports in fitted:
        params["temperature"] = temperature
        plain.append(evaluate_classifier(Classifier.from_params(params), te_reports)["hit@1"])
        ruled.append(
            evaluate_classifier(Classifier.from_params(params, rules), te_reports)["hit@1"]
        )
    return temperature, sum(plain) / folds, sum(ruled) / folds


def tune(reports: Sequence[Report], verbose: bool = True) -> HParams:
    feats = featurize(reports)
    # Small grid (kept small on purpose: ~700 rows, CV noise is ~1 point).
    grid = [
        HParams(C=C, char_weight=cw, min_df=md, class_weight="balanced")
        for C in (8.0, 32.0)
        for cw in (1.0, 1.5)
        for md in (2, 4, 6)
    ] + [HParams(C=C, char_weight=1.0, min_df=2, class_weight=None) for C in (8.0, 32.0)]
    best, best_s = HParams(), -1.0
    for hp in grid:
        s = cross_validate(reports, hp, feats=feats)
        if verbose:
            print(f"  cv hit@1={s:.4f}  {hp}", flush=True)
        if s > best_s + 1e-9:
            best, best_s = hp, s
    if verbose:
        print(f"  best: cv hit@1={best_s:.4f} {best}")
    return best


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


def export_params(
    vec: BlockVectorizer, classes: Sequence[str], model: Any, hp: HParams, meta: dict[str, Any]
) -> dict[str, Any]:
    import numpy as np

    coef = np.vstack([est.coef_.ravel() for est in model.estimators_])  # (n_classes, dim)
    intercepts = [float(est.intercept_[0]) for est in model.estimators_]
    blocks: dict[str, dict[str, Any]] = {}
    offset = 0
    kept = 0
    for name in ("word", "char"):
        voc, idf = vec.vocab[name], vec.idf[name]
        feats: dict[str, list[float]] = {}
        for term, j in voc.items():
            col = coef[:, offset + j]
            row: list[float] = [round(idf[j], 4)]
            for ci in np.flatnonzero(np.abs(col) >= hp.prune):
                row.extend((int(ci), round(float(col[ci]), 4)))
                kept += 1
            # every in-vocabulary feature stays (its idf is needed for the L2 norm)
            feats[term] = row
        blocks[name] = {
            "weight": {"word": hp.word_weight, "char": hp.char_weight}[name],
            "features": feats,
        }
        offset += len(voc)
    return {
        "format": PARAMS_FORMAT,
        "classes": list(classes),
        "intercepts": [round(b, 5) for b in intercepts],
        "blocks": blocks,
        "metadata": {
            **meta,
            "char_ngram_range": list(CHAR_NGRAM_RANGE),
            "hyperparameters": hp.__dict__,
            "nonzero_coefficients": kept,
        },
    }


# ---------------------------------------------------------------------------
# Baseline: plain TF-IDF over newmm words + one-vs-rest logistic regression
# ---------------------------------------------------------------------------


def baseline_scores(train: Sequence[Report], hold: Sequence[Report]) -> dict[str, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer=lambda t: tokenize(normalize_text(t)))
    X = vec.fit_transform([r.text for r in train])
    classes = _classes_of(train)
    model = _fit_ovr(X, _label_matrix(train, classes), HParams(C=1.0, class_weight=None))
    P = model.decision_function(vec.transform([r.text for r in hold]))
    top = _top_codes(P, classes, 3)
    gold = [r.labels for r in hold]
    return {"n": len(hold), "hit@1": hit_at_k(top, gold, 1), "hit@3": hit_at_k(top, gold, 3)}


# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--csv",
        type=Path,
        default=None,
        help="Traffy CSV (default: $RUAM_TRAFFY_CSV or ../shared/data/...)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--no-tune",
        action="store_true",
        help="skip the CV grid search; use default hyper-parameters",
    )
    ap.add_argument("--dry-run", action="store_true", help="do not write the artifact")
    args = ap.parse_args(argv)

    csv_path = args.csv or default_csv_path()
    reports = load_reports(csv_path)
    train, hold = split_reports(reports)
    print(
        f"rows={len(reports)} usable={len(train) + len(hold)}"
        f" train={len(train)} holdout={len(hold)}"
    )

    from services.routing.models import DEFAULT_RULES_PATH, load_rules

    rules = load_rules(DEFAULT_RULES_PATH) if Path(DEFAULT_RULES_PATH).exists() else []
    rural = [r for r in rules if r.category not in {c for rep in reports for c in rep.labels}]
    fp = Counter(r.name for rep in train for r in rural if r.matches(normalize_text(rep.text)))
    print(
        f"rules: {len(rules)} ({len(rural)} for categories absent from Traffy); "
        f"those fire on {sum(fp.values())} training rows: {dict(fp)}"
    )

    t0 = time.time()
    hp = HParams() if args.no_tune else tune(train)
    vec, classes, model = fit_model(train, hp)
    print(f"trained in {time.time() - t0:.1f}s on {len(train)} rows, {len(classes)} classes")

    meta = {
        "version": MODEL_VERSION,
        "trained_on_rows": len(train),
        "holdout_rows": len(hold),
        "split_rule": SPLIT_RULE,
        "source": csv_path.name,
        "trained_at": _dt.date.today().isoformat(),
        "model": (
            "one-vs-rest logistic regression over TF-IDF(newmm word 1-2 grams)"
            " + TF-IDF(char 2-4 grams)"
        ),
    }
    params = export_params(vec, classes, model, hp, meta)

    temperature, cv_plain, cv_rules = cross_validate_served(train, hp, rules)
    params["temperature"] = round(temperature, 4)
    print(
        f"CV on train (served pipeline, temperature={temperature:.3f}): "
        f"model only hit@1={cv_plain:.4f}, model + rules hit@1={cv_rules:.4f}"
    )
    params["metadata"]["cv_hit_at_1_train"] = round(cv_rules, 4)
    params["metadata"]["cv_hit_at_1_train_model_only"] = round(cv_plain, 4)

    # Honest evaluation of exactly what is served (pure-Python inference, +/- keyword rules).
    model_only = evaluate_classifier(Classifier.from_params(params), hold)
    with_rules = evaluate_classifier(Classifier.from_params(params, rules), hold)
    base = baseline_scores(train, hold)
    params["metadata"]["holdout_hit_at_1"] = round(with_rules["hit@1"], 4)
    params["metadata"]["holdout_hit_at_3"] = round(with_rules["hit@3"], 4)
    params["metadata"]["holdout_hit_at_1_model_only"] = round(model_only["hit@1"], 4)
    params["metadata"]["baseline_holdout_hit_at_1"] = round(base["hit@1"], 4)

    print(f"held-out (n={with_rules['n']}):")
    print(f"  model + rules   hit@1={with_rules['hit@1']:.4f} hit@3={with_rules['hit@3']:.4f}")
    print(f"  model only      hit@1={model_only['hit@1']:.4f} hit@3={model_only['hit@3']:.4f}")
    print(f"  baseline tfidf+LR hit@1={base['hit@1']:.4f} hit@3={base['hit@3']:.4f}")

    if not args.dry_run:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(params, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
