"""Report-text category classifier (pure, synchronous, no I/O).

The model is a one-vs-rest linear model over two TF-IDF blocks:

* ``w:`` / ``b:`` word unigrams and bigrams from PyThaiNLP ``newmm``
  tokenisation (bundled dictionary, nothing is downloaded), and
* ``c:`` character n-grams of the normalised text (strong for Thai, which has
  no spaces between words and many spelling variants).

Parameters come from the JSON artifact produced by ``tools/train_classifier.py``
and are handed in already loaded (``Classifier.from_params``); inference is plain
Python so the runtime does not need scikit-learn.  Configurable keyword rules
(``KeywordRule``) are merged with the model score by noisy-OR, which is what
lets categories without any training data (the rural อบต. ones) be routed.

Everything in here is deterministic and side-effect free.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pythainlp.tokenize import word_tokenize

from shared.taxonomy import GENERAL_CODE, by_code

__all__ = [
    "PARAMS_FORMAT",
    "Classifier",
    "KeywordRule",
    "RankedCategory",
    "extract_features",
    "normalize_text",
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

Pairs = tuple[tuple[int, float], ...]  # ((class index, coef), ...)
# A feature as inference keeps it: (idf, pairs, the classes it has a coef for as bits)
Known = tuple[float, Pairs, int]
Weighted = tuple[str, float, Pairs, int]  # (feature, value, pairs, class bits)


def normalize_text(text: str | None) -> str:
    """NFC, drop zero-width chars, Thai digits -> ASCII, collapse blanks, lowercase Latin."""
    if not text:
        return ""
    t = unicodedata.normalize("NFC", text)
    t = t.translate(_ZERO_WIDTH).translate(_THAI_DIGITS)
    t = _WS_RE.sub(" ", t).strip()
    # str.lower() leaves Thai untouched, so this only lowercases Latin (and other cased) letters.
    return t.lower()


def tokenize(normalized: str) -> list[str]:
    """Word tokens of normalised text (newmm); blanks/punctuation dropped, numbers -> '<num>'."""
    if not normalized:
        return []
    out: list[str] = []
    for tok in word_tokenize(normalized, engine="newmm", keep_whitespace=False):
        tok = tok.strip()
        if not tok:
            continue
        if _NUM_TOKEN_RE.match(tok):
            out.append("<num>")
        elif _WORDLIKE_RE.search(tok):
            out.append(tok)
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
        self._intercepts: tuple[float, ...] = tuple(float(b) for b in intercepts)
        # `blocks`: block name -> (block weight, {feature: (idf, ((class_idx, coef), ...))}).
        # Kept as inference looks it up: the char block keyed by the bare n-gram (no prefixed
        # string built per n-gram of a text), each feature with its classes as bits (the
        # evidence skips a feature that has no coef for any class it explains).
        self._words = _known(blocks.get("word"), "")
        self._chars = _known(blocks.get("char"), "c:")
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
    ) -> tuple[list[Weighted], list[Weighted]]:
        """Sparse weighted TF-IDF of the word features and of the (bare) char n-grams:
        lists of (feature, value, class coefs, class bits)."""
        return (
            _weigh(words, *self._words) if self._words is not None else [],
            _weigh(grams, *self._chars) if self._chars is not None else [],
        )

    def _margins(self, vec: tuple[list[Weighted], list[Weighted]]) -> list[float]:
        z = list(self._intercepts)
        for part in vec:
            for _, v, coefs, _bits in part:
                for ci, w in coefs:
                    z[ci] += v * w
        return z

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
        model_signal = bool(vec[0] or vec[1])

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
        owners = self._ngram_owners(tokens, vec[1])
        wanted = {class_index[c] for c, _ in order if c in class_index}
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
    def _ngram_owners(tokens: Sequence[str], grams: Sequence[Weighted]) -> dict[str, list[str]]:
        """char n-gram (bare) -> the distinct tokens that contain it."""
        present = {g for g, _, _, _ in grams}
        owners: dict[str, list[str]] = {}
        if not present:
            return owners
        lo, hi = CHAR_NGRAM_RANGE
        for tok in dict.fromkeys(tokens):
            if tok == "<num>":
                continue
            t = _DIGIT_RE.sub("0", tok)
            seen: set[str] = set()
            for k in range(lo, hi + 1):
                for i in range(len(t) - k + 1):
                    g = t[i : i + k]
                    if g in present and g not in seen:
                        seen.add(g)
                        owners.setdefault(g, []).append(tok)
        return owners

    def _token_evidence(
        self,
        wanted: set[int],
        vec: tuple[list[Weighted], list[Weighted]],
        owners: Mapping[str, Sequence[str]],
    ) -> dict[int, list[str]]:
        """Attribute positive contributions for each class in ``wanted`` to readable words,
        all in one pass over the features.

        Word unigram/bigram features count for the word(s) themselves; character
        n-grams are credited to the tokens that contain them (split evenly), so
        evidence is always a real word/phrase from the report.
        """
        contrib: dict[int, dict[str, float]] = {ci: {} for ci in wanted}
        mask = sum(1 << ci for ci in wanted)
        words, grams = vec
        for f, v, coefs, bits in words:
            if not bits & mask:
                continue
            for c, w in coefs:
                into = contrib.get(c)
                if into is not None:
                    into[f[2:]] = into.get(f[2:], 0.0) + v * w
        for g, v, coefs, bits in grams:
            toks = owners.get(g) if bits & mask else None
            if not toks:
                continue
            for c, w in coefs:
                into = contrib.get(c)
                if into is None:
                    continue
                share = v * w / len(toks)
                for tok in toks:
                    into[tok] = into.get(tok, 0.0) + share
        out: dict[int, list[str]] = {}
        for ci, scored in contrib.items():
            best = sorted(
                (kv for kv in scored.items() if kv[1] > 0 and "<num>" not in kv[0]),
                key=lambda kv: (-kv[1], kv[0]),
            )
            out[ci] = [w for w, _ in best[: self.evidence_size]]
        return out


def _known(
    block: tuple[float, Mapping[str, tuple[float, Pairs]]] | None, prefix: str
) -> tuple[float, dict[str, Known]] | None:
    """A block as inference looks it up: features keyed without `prefix`, with class bits."""
    if block is None:
        return None
    weight, feats = block
    cut = len(prefix)
    known = {
        f[cut:]: (idf, pairs, sum(1 << ci for ci, _ in pairs))
        for f, (idf, pairs) in feats.items()
        if f.startswith(prefix)
    }
    return weight, known


def _weigh(counts: Mapping[str, int], weight: float, feats: Mapping[str, Known]) -> list[Weighted]:
    """One block's features that the model knows, TF-IDF weighted and L2-normalised."""
    vals: list[Weighted] = []
    sq = 0.0
    for f, n in counts.items():
        hit = feats.get(f)
        if hit is None:
            continue
        v = hit[0] if n == 1 else (1.0 + math.log(n)) * hit[0]  # log 1 = 0: the same value
        sq += v * v
        vals.append((f, v, hit[1], hit[2]))
    if sq <= 0.0:
        return []
    scale = weight / math.sqrt(sq)
    return [(f, v * scale, coefs, bits) for f, v, coefs, bits in vals if coefs]
