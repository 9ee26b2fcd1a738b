"""Report-text category classifier (pure, synchronous, no I/O).

The model is a one-vs-rest linear model over two TF-IDF blocks:

* ``w:`` / ``b:`` word unigrams and bigrams from PyThaiNLP ``newmm``
  tokenisation (bundled dictionary, nothing is downloaded), and
* ``c:`` character n-grams of the normalised text (strong for Thai, which has
  no spaces between words and many spelling variants).

Parameters come from the JSON artifact produced by ``tools/train_classifier.py``
and are handed in already loaded (``Classifier.from_params``); inference needs
numpy, not scikit-learn.  Configurable keyword rules
(``KeywordRule``) are merged with the model score by noisy-OR, which is what
lets categories without any training data (the rural อบต. ones) be routed.

Everything in here is deterministic and side-effect free.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise, repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pythainlp.tokenize import word_tokenize

from shared.taxonomy import GENERAL_CODE, by_code

__all__ = [
    "MAX_CLASSIFIED_CHARS",
    "PARAMS_FORMAT",
    "Classifier",
    "KeywordRule",
    "RankedCategory",
    "extract_features",
    "normalize_text",
    "one_reading",
    "parse_rules",
    "tokenize",
]

PARAMS_FORMAT = "ruam-ovr-linear/1"

# ---------------------------------------------------------------------------
# Text normalisation and feature extraction (shared with the training tool so
# that training and serving see exactly the same features).
# ---------------------------------------------------------------------------

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_THAI_DIGITS = {ord(t): str(i) for i, t in enumerate("๐๑๒๓๔๕๖๗๘๙")}
_WS_RE = re.compile(r"\s+")
_DIGIT_RE = re.compile(r"\d")
_WORDLIKE_RE = re.compile(r"[0-9a-z\u0e01-\u0e4e]")
_NUM_TOKEN_RE = re.compile(r"^[\d.,:/\-]+$")

CHAR_NGRAM_RANGE: tuple[int, int] = (2, 4)
# The opening words say what a matter is: ranking and the duplicate check read no further,
# and, reading the same characters, share one tokenization (`one_reading`).
MAX_CLASSIFIED_CHARS = 2000

Pairs = tuple[tuple[int, float], ...]  # ((class index, coef), ...)


def normalize_text(text: str | None) -> str:
    """NFC, drop zero-width chars, Thai digits -> ASCII, collapse blanks, lowercase Latin."""
    if not text:
        return ""
    t = unicodedata.normalize("NFC", text)
    t = t.translate(_ZERO_WIDTH).translate(_THAI_DIGITS)
    t = _WS_RE.sub(" ", t).strip()
    # str.lower() leaves Thai untouched, so this only lowercases Latin (and other cased) letters.
    return t.lower()


_reading = threading.local()


@contextmanager
def one_reading() -> Iterator[None]:
    """Within it, this thread tokenizes each text once.

    A new report is read twice in a row, to rank it and for the words a duplicate is found
    by, and the tokenizer is the dearest step of both. Nothing is kept past the reading, so
    the same text read again later (a repeated report, a benchmark's) is tokenized again.
    """
    outer: dict[str, tuple[str, ...]] | None = getattr(_reading, "tokens", None)
    _reading.tokens = {} if outer is None else outer
    try:
        yield
    finally:
        _reading.tokens = outer


def tokenize(normalized: str) -> list[str]:
    """Word tokens of normalised text (newmm); blanks/punctuation dropped, numbers -> '<num>'."""
    if not normalized:
        return []
    read: dict[str, tuple[str, ...]] | None = getattr(_reading, "tokens", None)
    if read is not None and (known := read.get(normalized)) is not None:
        return list(known)
    out: list[str] = []
    for tok in word_tokenize(normalized, engine="newmm", keep_whitespace=False):
        tok = tok.strip()
        if not tok:
            continue
        if _NUM_TOKEN_RE.match(tok):
            out.append("<num>")
        elif _WORDLIKE_RE.search(tok):
            out.append(tok)
    if read is not None:
        read[normalized] = tuple(out)
    return out


def _char_grams(normalized: str, lo: int, hi: int) -> Counter[str]:
    """Character n-grams (digits folded to ``0``), unprefixed, shortest first."""
    s = _DIGIT_RE.sub("0", normalized)
    grams: Counter[str] = Counter()
    n = len(s)
    for k in range(lo, hi + 1):
        every = (s[i : i + k] for i in range(n - k + 1))
        # 2-grams that are half blank say nothing; Counter.update counts in C.
        grams.update(every if k > 2 else (g for g in every if g.strip() == g))
    return grams


def _word_features(tokens: Sequence[str]) -> Counter[str]:
    words: Counter[str] = Counter("w:" + t for t in tokens)
    words.update("b:" + a + " " + b for a, b in pairwise(tokens))
    return words


def _features(normalized: str) -> tuple[list[str], Counter[str], Counter[str]]:
    """``(tokens, word features, bare char n-grams)`` of a normalised text."""
    tokens = tokenize(normalized)
    return tokens, _word_features(tokens), _char_grams(normalized, *CHAR_NGRAM_RANGE)


def extract_features(
    text: str | None, *, normalized: bool = False
) -> tuple[list[str], Counter[str], Counter[str]]:
    """Return ``(tokens, word_feature_counts, char_feature_counts)`` for a text.

    Word features are ``w:<token>`` and ``b:<tok1> <tok2>``; character features
    are ``c:<ngram>`` over the normalised text (digits folded to ``0``).
    """
    norm = (text or "") if normalized else normalize_text(text)
    tokens, words, grams = _features(norm)
    return tokens, words, Counter({"c:" + g: n for g, n in grams.items()})


# Words recur from report to report. Tokens longer than nearly every word are not kept,
# so reports made of long made-up "words" cannot fill memory with them.
_REMEMBERED_TOKEN_CHARS = 16


def _token_grams(tok: str) -> frozenset[str]:
    """A token's character n-grams (digits folded to ``0``), each once."""
    if len(tok) > _REMEMBERED_TOKEN_CHARS:
        return _grams_of(tok)
    return _remembered_grams(tok)


def _grams_of(tok: str) -> frozenset[str]:
    return frozenset(_char_grams(tok, *CHAR_NGRAM_RANGE))


_remembered_grams = lru_cache(maxsize=2048)(_grams_of)


# ---------------------------------------------------------------------------
# Public value objects
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeywordRule:
    """A configurable keyword rule.

    If any of ``patterns`` occurs (substring of the normalised text) and none
    of ``exclude`` does, the category's score is boosted by noisy-OR with
    ``weight`` (0..1): ``score = 1 - (1 - score) * (1 - weight)``.
    """

    name: str
    category: str
    patterns: tuple[str, ...]
    weight: float = 0.5
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("rule name must not be empty")
        if not self.patterns:
            raise ValueError(f"rule {self.name!r} has no patterns")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"rule {self.name!r}: weight must be within [0, 1]")
        by_code(self.category)  # KeyError on unknown category
        object.__setattr__(self, "patterns", tuple(normalize_text(p) for p in self.patterns))
        object.__setattr__(self, "exclude", tuple(normalize_text(p) for p in self.exclude))

    def matches(self, normalized_text: str) -> tuple[str, ...]:
        """Patterns found in the (normalised) text; empty if none or excluded."""
        if any(x and x in normalized_text for x in self.exclude):
            return ()
        return tuple(p for p in self.patterns if p and p in normalized_text)


def parse_rules(
    raw: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> list[KeywordRule]:
    """Build rules from plain data (parsed YAML): a list of mappings, or ``{"rules": [...]}``."""
    if raw is None:
        return []
    items: Iterable[Any] = raw.get("rules", []) if isinstance(raw, Mapping) else raw
    rules: list[KeywordRule] = []
    for item in items or []:
        if not isinstance(item, Mapping):
            raise TypeError(f"keyword rule must be a mapping, got {type(item).__name__}")
        pats = item.get("patterns") or item.get("keywords") or ()
        rules.append(
            KeywordRule(
                name=str(item["name"]),
                category=str(item["category"]),
                patterns=tuple(str(p) for p in pats),
                weight=float(item.get("weight", 0.5)),
                exclude=tuple(str(p) for p in (item.get("exclude") or ())),
            )
        )
    return rules


@dataclass(frozen=True, slots=True)
class RankedCategory:
    code: str
    label_th: str
    label_en: str
    score: float
    evidence: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------
# Classifier
# ---------------------------------------------------------------------------


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Classifier:
    """One-vs-rest linear text classifier + keyword rules. Immutable after construction."""

    __slots__ = (
        "_chars",
        "_classes",
        "_intercepts",
        "_labels",
        "_rules",
        "_temperature",
        "_words",
        "evidence_size",
        "meta",
    )

    def __init__(
        self,
        classes: Sequence[str],
        intercepts: Sequence[float],
        blocks: Mapping[
            str, tuple[float, Mapping[str, tuple[float, tuple[tuple[int, float], ...]]]]
        ],
        rules: Iterable[KeywordRule] = (),
        meta: Mapping[str, object] | None = None,
        evidence_size: int = 3,
        temperature: float = 1.0,
    ) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        self._temperature = float(temperature)
        if len(classes) != len(intercepts):
            raise ValueError("classes and intercepts differ in length")
        for c in classes:
            by_code(c)
        self._classes: tuple[str, ...] = tuple(classes)
        self._intercepts = np.array([float(b) for b in intercepts], dtype=np.float64)
        # `blocks`: block name -> (block weight, {feature: (idf, ((class_idx, coef), ...))}).
        # Kept as inference looks it up: the char block keyed by the bare n-gram (no prefixed
        # string built per n-gram of a text), the coefs as one row per feature.
        self._words = _block(blocks.get("word"), "", len(classes))
        self._chars = _block(blocks.get("char"), "c:", len(classes))
        self._rules: tuple[KeywordRule, ...] = tuple(rules)
        labels = {c: by_code(c) for c in self._classes}
        for r in self._rules:
            labels.setdefault(r.category, by_code(r.category))
        labels.setdefault(GENERAL_CODE, by_code(GENERAL_CODE))
        self._labels = labels
        self.meta: dict[str, object] = dict(meta or {})
        self.evidence_size = evidence_size

    # -- construction -------------------------------------------------------

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any],
        rules: Sequence[KeywordRule]
        | Sequence[Mapping[str, Any]]
        | Mapping[str, Any]
        | None = None,
    ) -> Classifier:
        """Build from the JSON artifact (already parsed) and optional keyword rules.

        ``rules`` may be ``KeywordRule`` objects or plain mappings (parsed YAML).
        """
        fmt = params.get("format")
        if fmt != PARAMS_FORMAT:
            raise ValueError(
                f"unsupported classifier params format {fmt!r} (want {PARAMS_FORMAT!r})"
            )
        classes = [str(c) for c in params["classes"]]
        intercepts = [float(b) for b in params["intercepts"]]
        blocks: dict[str, tuple[float, dict[str, tuple[float, tuple[tuple[int, float], ...]]]]] = {}
        for name, block in dict(params["blocks"]).items():
            feats: dict[str, tuple[float, tuple[tuple[int, float], ...]]] = {}
            for feat, row in block["features"].items():
                # row = [idf, class_idx, coef, class_idx, coef, ...]
                idf = float(row[0])
                pairs = tuple((int(row[i]), float(row[i + 1])) for i in range(1, len(row) - 1, 2))
                feats[feat] = (idf, pairs)
            blocks[name] = (float(block.get("weight", 1.0)), feats)
        parsed: list[KeywordRule]
        if rules is None:
            parsed = []
        elif isinstance(rules, Mapping):
            parsed = parse_rules(rules)
        else:
            parsed = [r if isinstance(r, KeywordRule) else parse_rules([r])[0] for r in rules]
        meta = dict(params.get("metadata") or {})
        temperature = float(params.get("temperature", 1.0))
        return cls(classes, intercepts, blocks, parsed, meta, temperature=temperature)

    # -- accessors ----------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def rules(self) -> tuple[KeywordRule, ...]:
        return self._rules

    # -- inference ----------------------------------------------------------

    def _vectorize(
        self, words: Mapping[str, int], grams: Mapping[str, int]
    ) -> tuple[_Weighted, _Weighted]:
        """Sparse weighted TF-IDF of the word features and of the (bare) char n-grams."""
        return _weigh(words, self._words), _weigh(grams, self._chars)

    def _margins(self, vec: tuple[_Weighted, _Weighted]) -> list[float]:
        # Each feature's terms in order after the intercept, summed row after row: the
        # same additions in the same order as a loop over the features would make.
        terms = [self._intercepts[None, :], *(part.terms() for part in vec if part.names)]
        return [float(z) for z in np.concatenate(terms).sum(axis=0)]

    def decision(self, text: str) -> dict[str, float]:
        """Raw model margins per trained class (no rules)."""
        _, words, grams = _features(normalize_text(text))
        z = self._margins(self._vectorize(words, grams))
        return dict(zip(self._classes, z, strict=True))

    def rank(self, text: str | None, top_k: int = 5) -> list[RankedCategory]:
        """Categories ranked best first, scores in [0, 1], each with clerk-readable evidence."""
        if top_k <= 0:
            return []
        norm = normalize_text(text)
        tokens, words, grams = _features(norm)
        if not norm or (not tokens and not grams):
            return [self._fallback("ข้อความว่าง (empty text)")]

        vec = self._vectorize(words, grams)
        z = self._margins(vec)
        # calibrated-ish probability that the citizen would tick this category
        t = self._temperature
        scores: dict[str, float] = {c: _sigmoid(z[i] / t) for i, c in enumerate(self._classes)}
        model_signal = bool(vec[0].names or vec[1].names)

        fired: dict[str, list[tuple[str, float, tuple[str, ...]]]] = {}
        for rule in self._rules:
            hits = rule.matches(norm)
            if hits:
                fired.setdefault(rule.category, []).append((rule.name, rule.weight, hits))
                base = scores.get(rule.category, 0.0)
                scores[rule.category] = 1.0 - (1.0 - base) * (1.0 - rule.weight)

        if not model_signal and not fired:
            return [self._fallback("ไม่พบคำที่รู้จัก (no known words)")]

        order = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
        class_index = {c: i for i, c in enumerate(self._classes)}
        owners = self._ngram_owners(tokens, vec[1].names)
        wanted = sorted({class_index[c] for c, _ in order if c in class_index})
        words_for = self._token_evidence(wanted, vec, owners)
        result: list[RankedCategory] = []
        for code, score in order:
            idx = class_index.get(code)
            evidence: list[str] = []
            for name, _w, hits in sorted(fired.get(code, ()), key=lambda r: -r[1]):
                evidence.append(f"rule:{name}({'/'.join(hits)})")
            if idx is not None:
                evidence.extend(words_for.get(idx, ()))
            if not evidence:
                evidence.append("prior")
            cat = self._labels[code]
            result.append(
                RankedCategory(
                    code=code,
                    label_th=cat.label_th,
                    label_en=cat.label_en,
                    score=min(1.0, max(0.0, round(score, 6))),
                    evidence=tuple(evidence[: self.evidence_size + 2]),
                )
            )
        return result

    # -- helpers ------------------------------------------------------------

    def _fallback(self, why: str) -> RankedCategory:
        cat = self._labels[GENERAL_CODE]
        return RankedCategory(
            code=cat.code, label_th=cat.label_th, label_en=cat.label_en, score=1.0, evidence=(why,)
        )

    @staticmethod
    def _ngram_owners(tokens: Sequence[str], grams: Sequence[str]) -> dict[str, list[str]]:
        """char n-gram (bare) -> the distinct tokens that contain it."""
        present = set(grams)
        owners: dict[str, list[str]] = {}
        if not present:
            return owners
        for tok in dict.fromkeys(tokens):
            if tok == "<num>":
                continue
            # Each n-gram once per token; every list stays in the tokens' order.
            for g in _token_grams(tok) & present:
                owners.setdefault(g, []).append(tok)
        return owners

    def _token_evidence(
        self,
        wanted: list[int],
        vec: tuple[_Weighted, _Weighted],
        owners: Mapping[str, Sequence[str]],
    ) -> dict[int, list[str]]:
        """Attribute positive contributions for each class in ``wanted`` to readable words.

        Word unigram/bigram features count for the word(s) themselves; character
        n-grams are credited to the tokens that contain them (split evenly), so
        evidence is always a real word/phrase from the report.
        """
        words, grams = vec
        names: dict[str, int] = {}  # word or token -> its row of credit, in first-seen order
        rows: list[int] = []  # which row each credit goes to, in the order it is added
        parts: list[NDArray[np.float64]] = []
        if words.names:
            rows.extend(names.setdefault(f[2:], len(names)) for f in words.names)
            parts.append(words.terms(wanted))
        if grams.names:
            shared = [i for i, g in enumerate(grams.names) if g in owners]
            if shared:
                toks = [owners[grams.names[i]] for i in shared]
                sizes = [len(t) for t in toks]
                # Each n-gram's term, divided among its tokens, once per token.
                split = grams.terms(wanted, shared) / np.array(sizes, dtype=np.float64)[:, None]
                rows.extend(names.setdefault(t, len(names)) for ts in toks for t in ts)
                parts.append(np.repeat(split, sizes, axis=0))
        if not parts:
            return {ci: [] for ci in wanted}
        credit = np.zeros((len(names), len(wanted)))
        # In order, one credit after the other (add.at is unbuffered), as a loop would.
        np.add.at(credit, rows, np.concatenate(parts))
        by_class = credit.T.tolist()
        out: dict[int, list[str]] = {}
        for j, ci in enumerate(wanted):
            scored = by_class[j]
            best = sorted(
                ((w, scored[k]) for w, k in names.items() if scored[k] > 0 and "<num>" not in w),
                key=lambda kv: (-kv[1], kv[0]),
            )
            out[ci] = [w for w, _ in best[: self.evidence_size]]
        return out


@dataclass(frozen=True, slots=True)
class _Block:
    """A block of features as inference looks it up."""

    weight: float
    index: dict[str, int]  # feature (without its prefix) -> its place in `idf` and `rows`
    idf: NDArray[np.float64]
    rows: NDArray[np.intp]  # the feature's row of `coefs`, or -1 if it has none
    coefs: NDArray[np.float64]  # one row per feature with coefs, one column per class


_NO_VALUES: NDArray[np.float64] = np.zeros(0, dtype=np.float64)
_NO_ROWS: NDArray[np.intp] = np.zeros(0, dtype=np.intp)


@dataclass(frozen=True, slots=True)
class _Weighted:
    """A text's features in one block that have coefs: TF-IDF weighted, L2-normalised."""

    block: _Block | None
    names: list[str]
    values: NDArray[np.float64]
    rows: NDArray[np.intp]

    def terms(
        self, classes: Sequence[int] | None = None, only: Sequence[int] | None = None
    ) -> NDArray[np.float64]:
        """value x coef, a row per feature (those at `only`), a column per class (or
        those in `classes`)."""
        assert self.block is not None
        rows = self.rows if only is None else self.rows[list(only)]
        values = self.values if only is None else self.values[list(only)]
        coefs: NDArray[np.float64] = self.block.coefs[rows]
        if classes is not None:
            coefs = coefs[:, classes]
        terms: NDArray[np.float64] = coefs * values[:, None]
        return terms


def _block(
    block: tuple[float, Mapping[str, tuple[float, Pairs]]] | None, prefix: str, classes: int
) -> _Block | None:
    """A block as inference looks it up: features keyed without `prefix`."""
    if block is None:
        return None
    weight, feats = block
    cut = len(prefix)
    index: dict[str, int] = {}
    idf: list[float] = []
    rows: list[int] = []
    dense: list[list[float]] = []
    for f, (f_idf, pairs) in feats.items():
        if not f.startswith(prefix):
            continue
        row = -1
        if pairs:
            row = len(dense)
            coefs = [0.0] * classes
            for ci, w in pairs:
                coefs[ci] = w
            dense.append(coefs)
        index[f[cut:]] = len(idf)
        idf.append(f_idf)
        rows.append(row)
    matrix = np.array(dense, dtype=np.float64).reshape(len(dense), classes)
    # Shared by the ranking threads, and the model is immutable.
    arrays = (np.array(idf, dtype=np.float64), np.array(rows, dtype=np.intp), matrix)
    for a in arrays:
        a.flags.writeable = False
    return _Block(weight, index, *arrays)


def _weigh(counts: Mapping[str, int], block: _Block | None) -> _Weighted:
    """One block's features that the model knows, TF-IDF weighted and L2-normalised."""
    if block is None:
        return _Weighted(None, [], _NO_VALUES, _NO_ROWS)
    names = list(counts)
    # Most of a text's n-grams are looked up, and each known one weighed, in C; only the
    # n-grams a text repeats (log TF) are weighed in Python.
    at = np.fromiter(map(block.index.get, names, repeat(-1)), dtype=np.intp, count=len(names))
    known = np.flatnonzero(at >= 0)
    if not known.size:
        return _Weighted(block, [], _NO_VALUES, _NO_ROWS)
    places = at[known]
    v = block.idf[places]
    n = np.fromiter(counts.values(), dtype=np.intp, count=len(names))[known]
    for j in np.flatnonzero(n > 1).tolist():
        v[j] = (1.0 + math.log(int(n[j]))) * float(v[j])
    # accumulate adds one after the other, as a loop would (sum() would pair them).
    sq = float(np.add.accumulate(v * v)[-1])
    if sq <= 0.0:
        return _Weighted(block, [], _NO_VALUES, _NO_ROWS)
    scale = block.weight / math.sqrt(sq)
    rows = block.rows[places]
    kept = rows >= 0
    return _Weighted(block, [names[i] for i in known[kept].tolist()], v[kept] * scale, rows[kept])
