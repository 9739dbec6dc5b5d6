"""Text drift: reference statistics + a window of messages -> a calibrated ``DriftReport``.

Owns the statistics of issue 4 and nothing else: it is pure (no clock, no store, no registry;
timestamps and texts are passed in). The only file it touches is the detector cache
(``DriftDetector.save``/``load`` and ``DetectorCache``), written where the caller says. It must
not know any scam vocabulary: every statistic is generic, so the detector works on drift whose
words it has never seen.

What is measured, for a window of ``n`` messages against a reference (the champion's training
texts, or any reference set):

- **vocabulary drift**: the share of the window's token *usage* that the reference vocabulary
  does not account for (out-of-vocabulary tokens / all tokens; digits are folded to ``0`` so
  phone numbers and prices of the same shape match);
- **TF-IDF drift**: the cosine distance between the window's mean TF-IDF vector and the
  reference's, in the champion's feature space (its word TF-IDF sub-space, see
  ``word_subspace``) or in a TF-IDF fitted on the reference; the mean-embedding distance is the
  linear-kernel maximum mean discrepancy of Gretton et al. 2012
  (https://jmlr.org/papers/v13/gretton12a.html) on normalised means;
- **prediction drift**: the absolute change of the predicted spam rate, with the p-value of
  a two-proportion z-test against the reference's predicted rate. It is reported, not used in
  the decision: a spam wave the model catches is not model decay, and a scam the model misses
  does not move it (the text statistics do).

**Calibration for window size.** A raw distance means nothing without the window size: 200
unchanged messages are far from the reference mean by sampling noise alone, 20,000 are close.
So ``fit`` holds out part of the reference (30%, at most 2,000 messages), computes the
reference statistics on the rest, and for each window size ``n`` draws ``B`` null windows of
``n`` messages from the held-out part, scored exactly like real windows. Null windows are drawn
by a two-stage bootstrap (resample the held-out set, then draw the window from that resample),
so their spread includes the uncertainty of the held-out set itself, which otherwise makes
large windows over-confident. Each statistic ``x`` becomes ``z = (x - median) / (q - median)``
with ``q`` the null's ``1 - false_alarm_rate`` quantile, so ``z = 1`` is the edge of what
unchanged traffic of that size produces. The two text statistics are combined by their
maximum, and the maximum is calibrated against its own null distribution (which handles the
multiple comparison). Reported scores map ``z`` onto [0, 1] with
``score = 1 - (1 - threshold) ** max(z, 0)``: 0 is "as close as typical unchanged traffic",
``threshold`` (default 0.15) is exactly the null's upper quantile at *every* window size, and
scores tend to 1 as the excess grows. ``drift_detected`` is ``drift_score > threshold``;
``p_value`` is the empirical tail probability of the combined statistic under the null.
This is NannyML's "calibrate alert thresholds on reference chunks" idea, with a permutation-
style null (Good, *Permutation, Parametric and Bootstrap Tests of Hypotheses*) drawn per size.
Nulls are cached per window size (rounded down to a 5% geometric grid, which is slightly
conservative) and saved with the detector, so they are computed once per model version.

**New patterns.** Terms (length >= 3, not pure numbers, in at least ``max(3, 0.2% of n)``
window messages) at least three times more frequent in the window than in the reference,
ranked by the log-likelihood ratio (G²) keyness of Dunning 1993
(https://aclanthology.org/J93-1003/), significant at p < 1e-4. They are reported only when
drift is detected: on unchanged traffic the most over-represented terms are noise, and an
operator should not be shown an explanation of drift that is not there.
"""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from engine.errors import InvalidInput
from engine.records import PatternCount

DEFAULT_THRESHOLD = 0.15
"""Calibrated drift score above which drift is detected (``thresholds.drift``)."""
DEFAULT_FALSE_ALARM_RATE = 0.05
"""Share of unchanged windows allowed to exceed the threshold (``thresholds.false_alarm_rate``)."""
NULL_WINDOWS = 500
"""Null windows drawn per window size; the p-value resolution is 1 / (NULL_WINDOWS + 1)."""
HOLDOUT_FRACTION = 0.3
"""Share of the reference held out to draw null windows from (never scored against itself)."""
MAX_HOLDOUT = 2000
"""Most held-out messages: enough for the null, and the Gram matrix stays small."""
NULL_GRID_STEP = 1.05
"""Relative step of the window-size grid that nulls are cached on."""
MIN_REFERENCE = 20
"""Fewest reference messages a detector accepts."""
MAX_PATTERNS = 10
"""Most new patterns reported."""
PATTERN_MIN_RATIO = 3.0
"""A new pattern is at least this many times more frequent in the window than in the reference."""
PATTERN_MIN_G2 = 15.13
"""G² keyness a new pattern needs (chi-square, 1 df, p < 1e-4)."""
CACHE_FORMAT = 1
"""Bumped whenever the saved detector layout changes, so stale caches are rebuilt."""

Recommendation = Literal["RETRAIN", "NO_ACTION", "INSUFFICIENT_DATA"]
"""``INSUFFICIENT_DATA``: set by ``rules.window_verdict`` for a window below the minimum."""
PredictProba = Callable[[Sequence[str]], Any]
"""Texts -> spam probabilities (array-like of floats)."""

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_DIGIT = re.compile(r"\d")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens with every digit folded to ``0``."""
    return _TOKEN.findall(_DIGIT.sub("0", text.lower().replace("’", "'")))


def word_subspace(feature_space: Any) -> Any:
    """The word TF-IDF part of a fitted ``Pipeline(..., FeatureUnion)``, else ``feature_space``.

    The champion's character n-grams quadruple the transform time (1.4 s for 10,000 messages on
    the reference machine) and add little a drift statistic needs that the vocabulary statistic
    does not already see, so drift uses the word sub-space of the champion's features.
    """
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(feature_space, Pipeline) and isinstance(feature_space.steps[-1][1],
                                                          FeatureUnion):
        union = feature_space.steps[-1][1]
        for name, transformer in union.transformer_list:
            if name == "word":
                return Pipeline([*feature_space.steps[:-1], ("word", transformer)])
    return feature_space


def _squash(z: float, threshold: float) -> float:
    """Map a null-standardised excess onto [0, 1]; ``z = 1`` maps to ``threshold``."""
    if not math.isfinite(z):
        return 1.0 if z > 0 else 0.0
    return float(1.0 - (1.0 - threshold) ** max(z, 0.0))


def null_size(n: int) -> int:
    """The window size whose null stands in for ``n``: exact below 100, else rounded down.

    Sizes from 100 up snap down to a geometric grid with 5% steps, so hundreds of windows of
    assorted sizes share a few dozen nulls. Rounding down is conservative: a smaller null
    window is noisier, so its threshold is slightly higher.
    """
    if n < 100:
        return n
    k = math.floor(math.log(n / 100) / math.log(NULL_GRID_STEP) + 1e-9)
    return min(n, math.floor(100 * NULL_GRID_STEP**k + 1e-6))


@dataclass(frozen=True)
class DriftReport:
    """The drift of one window of messages against the reference."""

    source: str
    """Where the window came from (file name, ``monitor``, ...)."""
    n: int
    """Messages in the window."""
    vocabulary_drift: float
    """Calibrated score in [0, 1] of the window's token usage the reference does not account for."""
    tfidf_drift: float
    """Calibrated score in [0, 1] of the shift of the mean TF-IDF vector."""
    prediction_drift: float | None
    """Absolute change of the predicted spam rate (None without a model)."""
    prediction_p_value: float | None
    """Two-proportion z-test p-value of that change."""
    spam_rate: float | None
    """Predicted spam rate in the window."""
    drift_score: float
    """Calibrated combined score in [0, 1]; above ``threshold`` means drift."""
    drift_detected: bool
    threshold: float
    p_value: float
    """Probability that unchanged traffic of this size scores at least this high."""
    new_patterns: tuple[PatternCount, ...]
    recommendation: Recommendation
    timestamp: datetime
    model_version: int | None
    reference_size: int
    reference_spam_rate: float | None = None
    vocabulary_oov_rate: float = 0.0
    """Raw share of window tokens unseen in the reference (before calibration)."""
    tfidf_distance: float = 0.0
    """Raw cosine distance of mean TF-IDF vectors (before calibration)."""
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE
    reason: str | None = None
    """Why the recommendation is what it is, when the scores alone do not say (small window)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the ``spamops drift --json`` contract."""

        def r(value: float | None) -> float | None:
            return None if value is None else round(float(value), 6)

        return {
            "source": self.source,
            "n": self.n,
            "vocabulary_drift": r(self.vocabulary_drift),
            "tfidf_drift": r(self.tfidf_drift),
            "prediction_drift": r(self.prediction_drift),
            "prediction_p_value": r(self.prediction_p_value),
            "spam_rate": r(self.spam_rate),
            "reference_spam_rate": r(self.reference_spam_rate),
            "drift_score": r(self.drift_score),
            "drift_detected": self.drift_detected,
            "threshold": self.threshold,
            "false_alarm_rate": self.false_alarm_rate,
            "p_value": r(self.p_value),
            "new_patterns": [
                {"term": p.term, "count": p.count, "window_rate": r(p.window_rate),
                 "reference_rate": r(p.reference_rate)}
                for p in self.new_patterns
            ],
            "recommendation": self.recommendation,
            "reason": self.reason,
            "timestamp": self.timestamp.isoformat(timespec="seconds"),
            "model_version": self.model_version,
            "reference_size": self.reference_size,
            "vocabulary_oov_rate": r(self.vocabulary_oov_rate),
            "tfidf_distance": r(self.tfidf_distance),
        }


@dataclass(frozen=True)
class _Null:
    """The null distribution of one window size."""

    center: np.ndarray
    """Median of each statistic (vocabulary, tfidf)."""
    scale: np.ndarray
    """Upper quantile minus median of each statistic."""
    combined: np.ndarray
    """Sorted null values of the combined statistic (max of standardised statistics)."""
    combined_quantile: float


@dataclass
class DriftDetector:
    """Reference statistics, computed once, and the scoring of windows against them."""

    threshold: float
    false_alarm_rate: float
    seed: int
    model_version: int | None
    reference_size: int
    feature_space: Any
    fit_vocabulary: frozenset[str]
    reference_df: dict[str, int]
    reference_mean: np.ndarray
    hold_oov: np.ndarray
    hold_tokens: np.ndarray
    hold_features: sp.csr_matrix
    support: np.ndarray
    """Columns of the feature space that the reference's fit part uses."""
    reference_spam_rate: float | None = None
    predict_proba: PredictProba | None = None
    null_windows: int = NULL_WINDOWS
    _nulls: dict[int, _Null] = field(default_factory=dict)
    _gram: np.ndarray | None = None
    format: int = CACHE_FORMAT

    # Building ----------------------------------------------------------------------------
    @classmethod
    def fit(cls, reference_texts: Sequence[str], *, feature_space: Any = None,
            predict_proba: PredictProba | None = None, threshold: float = DEFAULT_THRESHOLD,
            false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE, seed: int = 42,
            model_version: int | None = None) -> DriftDetector:
        """Compute the reference statistics once.

        Args:
            reference_texts: the reference messages (the champion's training texts).
            feature_space: a fitted transformer ``list[str] -> sparse matrix``; default a
                word TF-IDF fitted on the reference.
            predict_proba: texts -> spam probabilities, for prediction drift.
            threshold: calibrated score above which drift is detected.
            false_alarm_rate: share of unchanged windows allowed to exceed ``threshold``.
            seed: seed of the hold-out split and of the null windows.
            model_version: the model the reference belongs to (reported, cache key).
        """
        texts = [t for t in (str(x) for x in reference_texts) if t.strip()]
        if len(texts) < MIN_REFERENCE:
            raise InvalidInput(
                f"the drift reference needs at least {MIN_REFERENCE} messages, got {len(texts)}")
        if not 0 < threshold < 1:
            raise InvalidInput(f"drift threshold must be in (0, 1), got {threshold}")
        if not 0 < false_alarm_rate < 0.5:
            raise InvalidInput(f"false alarm rate must be in (0, 0.5), got {false_alarm_rate}")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(texts))
        n_hold = min(MAX_HOLDOUT, max(10, round(HOLDOUT_FRACTION * len(texts))))
        hold = [texts[i] for i in order[:n_hold]]
        fit_part = [texts[i] for i in order[n_hold:]]

        fit_tokens = [tokenize(t) for t in fit_part]
        vocabulary = frozenset(tok for toks in fit_tokens for tok in toks)
        reference_df: Counter[str] = Counter()
        for toks in fit_tokens:
            reference_df.update(set(toks))
        hold_tokens = [tokenize(t) for t in hold]
        for toks in hold_tokens:
            reference_df.update(set(toks))
        hold_oov = np.array([sum(tok not in vocabulary for tok in toks) for toks in hold_tokens],
                            dtype=float)
        hold_len = np.array([len(toks) for toks in hold_tokens], dtype=float)

        if feature_space is None:
            from sklearn.feature_extraction.text import TfidfVectorizer

            feature_space = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(fit_part)
        fit_features = sp.csr_matrix(feature_space.transform(fit_part), dtype=np.float64)
        # Keep only the features the fit part uses, and renormalise: a feature space fitted on
        # the whole reference (the champion's) knows the held-out messages' rare terms, which
        # new traffic loses; masking treats held-out and new messages alike.
        support = np.flatnonzero(np.asarray(fit_features.getnnz(axis=0)) > 0)
        fit_features = _normalise_rows(fit_features[:, support])
        reference_mean = np.asarray(fit_features.mean(axis=0), dtype=np.float64).ravel()
        hold_features = _normalise_rows(
            sp.csr_matrix(feature_space.transform(hold), dtype=np.float64)[:, support])

        spam_rate: float | None = None
        if predict_proba is not None:
            proba = np.asarray(predict_proba(texts), dtype=float)
            spam_rate = float(np.mean(proba >= 0.5))
        return cls(threshold=threshold, false_alarm_rate=false_alarm_rate, seed=seed,
                   model_version=model_version, reference_size=len(texts),
                   feature_space=feature_space, fit_vocabulary=vocabulary,
                   reference_df=dict(reference_df), reference_mean=reference_mean,
                   hold_oov=hold_oov, hold_tokens=hold_len, hold_features=hold_features,
                   support=support,
                   reference_spam_rate=spam_rate, predict_proba=predict_proba)

    # Null distributions ------------------------------------------------------------------
    def _gram_matrix(self) -> np.ndarray:
        if self._gram is None:
            gram = (self.hold_features @ self.hold_features.T).toarray()
            self._gram = np.asarray(gram, dtype=np.float64)
        return self._gram

    def _null(self, n: int) -> _Null:
        size = null_size(n)
        cached = self._nulls.get(size)
        if cached is not None:
            return cached
        n_hold = len(self.hold_oov)
        rng = np.random.default_rng([self.seed, size])
        # Two-stage bootstrap: resample the held-out set, then draw the window from it.
        weights = rng.multinomial(n_hold, np.full(n_hold, 1.0 / n_hold),
                                  size=self.null_windows) / n_hold
        counts = rng.multinomial(size, weights).astype(np.float64)
        tokens = counts @ self.hold_tokens
        oov = np.divide(counts @ self.hold_oov, tokens, out=np.zeros_like(tokens),
                        where=tokens > 0)
        dots = counts @ (self.hold_features @ self.reference_mean)
        norms = np.sqrt(np.einsum("bi,bi->b", counts, counts @ self._gram_matrix()))
        ref_norm = float(np.linalg.norm(self.reference_mean))
        with np.errstate(divide="ignore", invalid="ignore"):
            cosine = np.where(norms > 0, dots / (norms * ref_norm), 0.0)
        stats = np.column_stack([oov, 1.0 - cosine])
        level = 1.0 - self.false_alarm_rate
        center = np.median(stats, axis=0)
        upper = np.quantile(stats, level, axis=0, method="higher")
        scale = np.maximum(upper - center, 1e-9)
        combined = np.sort(np.max((stats - center) / scale, axis=1))
        quantile = float(max(np.quantile(combined, level, method="higher"), 1e-9))
        null = _Null(center=center, scale=scale, combined=combined, combined_quantile=quantile)
        self._nulls[size] = null
        return null

    # Scoring -----------------------------------------------------------------------------
    def score(self, window_texts: Sequence[str], *, timestamp: datetime, source: str = "",
              spam_probabilities: Sequence[float] | np.ndarray | None = None) -> DriftReport:
        """Score one window against the reference.

        Args:
            window_texts: the window's messages.
            timestamp: when the report is made (naive UTC; this module has no clock).
            source: where the window came from, echoed in the report.
            spam_probabilities: the window's spam probabilities when the caller already has
                them (logged predictions); else ``predict_proba`` is used when available.
        """
        texts = [str(t) for t in window_texts]
        n = len(texts)
        if n == 0:
            raise InvalidInput(f"the window {source or ''} has no messages".replace("  ", " "))
        tokens = [tokenize(t) for t in texts]
        vocabulary = self.fit_vocabulary
        total = sum(len(toks) for toks in tokens)
        unseen = sum(tok not in vocabulary for toks in tokens for tok in toks)
        oov = unseen / total if total else 0.0

        features = _normalise_rows(
            sp.csr_matrix(self.feature_space.transform(texts), dtype=np.float64)[:, self.support])
        summed = np.asarray(features.sum(axis=0), dtype=np.float64).ravel()
        norm = float(np.linalg.norm(summed)) * float(np.linalg.norm(self.reference_mean))
        distance = 1.0 - float(summed @ self.reference_mean) / norm if norm > 0 else 1.0

        null = self._null(n)
        z = (np.array([oov, distance]) - null.center) / null.scale
        combined = float(np.max(z))
        exceed = len(null.combined) - int(np.searchsorted(null.combined, combined, side="left"))
        p_value = (1 + exceed) / (1 + len(null.combined))
        detected = combined > null.combined_quantile
        drift_score = _squash(combined / null.combined_quantile, self.threshold)

        pred_drift, pred_p, spam_rate = self._prediction_drift(texts, spam_probabilities)
        return DriftReport(
            source=source, n=n,
            vocabulary_drift=_squash(float(z[0]), self.threshold),
            tfidf_drift=_squash(float(z[1]), self.threshold),
            prediction_drift=pred_drift, prediction_p_value=pred_p, spam_rate=spam_rate,
            drift_score=drift_score, drift_detected=bool(detected), threshold=self.threshold,
            p_value=float(p_value),
            new_patterns=self._new_patterns(tokens) if detected else (),
            recommendation="RETRAIN" if detected else "NO_ACTION", timestamp=timestamp,
            model_version=self.model_version, reference_size=self.reference_size,
            reference_spam_rate=self.reference_spam_rate, vocabulary_oov_rate=oov,
            tfidf_distance=distance, false_alarm_rate=self.false_alarm_rate,
        )

    def _prediction_drift(
        self, texts: list[str], given: Sequence[float] | np.ndarray | None,
    ) -> tuple[float | None, float | None, float | None]:
        if given is not None:
            proba = np.asarray(given, dtype=float)
            if len(proba) != len(texts):
                raise InvalidInput(f"got {len(proba)} spam probabilities for {len(texts)} "
                                   "messages")
        elif self.predict_proba is not None:
            proba = np.asarray(self.predict_proba(texts), dtype=float)
        else:
            return None, None, None
        spam_rate = float(np.mean(proba >= 0.5))
        if self.reference_spam_rate is None:
            return None, None, spam_rate
        from scipy.stats import norm

        n1, n0 = len(texts), self.reference_size
        p0 = self.reference_spam_rate
        pooled = (spam_rate * n1 + p0 * n0) / (n1 + n0)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        diff = spam_rate - p0
        p_value = 1.0 if se == 0 else float(2 * norm.sf(abs(diff) / se))
        return abs(diff), p_value, spam_rate

    def _new_patterns(self, tokens: list[list[str]]) -> tuple[PatternCount, ...]:
        n = len(tokens)
        df: Counter[str] = Counter()
        for toks in tokens:
            df.update(set(toks))
        min_count = max(3, math.ceil(0.002 * n))
        n_ref = self.reference_size
        found: list[tuple[float, PatternCount]] = []
        for term, count in df.items():
            if count < min_count or len(term) < 3 or term.isdigit():
                continue
            ref_count = self.reference_df.get(term, 0)
            window_rate = count / n
            if window_rate < PATTERN_MIN_RATIO * (ref_count + 0.5) / (n_ref + 1):
                continue
            g2 = _g2(count, n, ref_count, n_ref)
            if g2 < PATTERN_MIN_G2:
                continue
            found.append((g2, PatternCount(term=term, count=count, window_rate=window_rate,
                                           reference_rate=ref_count / n_ref)))
        found.sort(key=lambda item: (-item[0], item[1].term))
        return tuple(pattern for _, pattern in found[:MAX_PATTERNS])

    # Persistence -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the detector (reference statistics and nulls, not the predictor) to ``path``."""
        import joblib

        predictor = self.predict_proba
        gram = self._gram
        try:
            self.predict_proba = None
            self._gram = None
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            joblib.dump(self, partial)
            partial.replace(path)
        finally:
            self.predict_proba = predictor
            self._gram = gram

    @classmethod
    def load(cls, path: Path) -> DriftDetector:
        """Read a detector written by ``save``; raises ``InvalidInput`` if unusable."""
        import joblib

        try:
            detector = joblib.load(path)
        except Exception as exc:  # a truncated or foreign file: rebuild rather than crash
            raise InvalidInput(f"could not read the drift detector {path}: {exc}") from None
        if not isinstance(detector, cls) or detector.format != CACHE_FORMAT:
            raise InvalidInput(f"{path} is not a current drift detector")
        return detector

    def with_predictor(self, predict_proba: PredictProba | None) -> DriftDetector:
        """Attach the model's ``predict_proba`` (not saved with the detector); returns self."""
        self.predict_proba = predict_proba
        return self


def _normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row to unit L2 norm (empty rows stay empty)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def _g2(a: int, n_a: int, b: int, n_b: int) -> float:
    """Dunning's log-likelihood ratio for a term in ``a`` of ``n_a`` vs ``b`` of ``n_b`` docs."""
    total = n_a + n_b
    k = a + b
    g2 = 0.0
    for observed, expected in ((a, n_a * k / total), (b, n_b * k / total),
                               (n_a - a, n_a * (total - k) / total),
                               (n_b - b, n_b * (total - k) / total)):
        if observed > 0 and expected > 0:
            g2 += observed * math.log(observed / expected)
    return 2.0 * g2


class DetectorCache:
    """Detectors per model version, in memory and on disk, so reference stats are built once.

    The key is the model version with the threshold and the false-alarm rate (the nulls and
    scores depend on both). Memory holds at most ``max_in_memory`` detectors, least recently
    used out first, and ``retain`` drops those of versions no alias names any more (issue 14:
    a long-lived process kept every champion's detector); the files stay on disk.
    """

    def __init__(self, cache_dir: Path, *, threshold: float = DEFAULT_THRESHOLD,
                 false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
                 max_in_memory: int = 3) -> None:
        self.cache_dir = cache_dir
        self.threshold = threshold
        self.false_alarm_rate = false_alarm_rate
        self.max_in_memory = max_in_memory
        self._memory: OrderedDict[tuple[int, float, float], DriftDetector] = OrderedDict()
        self._saved: dict[tuple[int, float, float], int] = {}

    def path_for(self, model_version: int) -> Path:
        """The file holding the detector of ``model_version``."""
        return self.cache_dir / (f"v{model_version}-t{self.threshold:g}-a{self.false_alarm_rate:g}"
                                 f"-f{CACHE_FORMAT}.joblib")

    def get(self, model_version: int, build: Callable[[], DriftDetector]) -> DriftDetector:
        """The cached detector of ``model_version``, built with ``build`` on first use."""
        key = (model_version, self.threshold, self.false_alarm_rate)
        detector = self._memory.get(key)
        if detector is not None:
            self._memory.move_to_end(key)
            return detector
        path = self.path_for(model_version)
        if path.exists():
            try:
                detector = DriftDetector.load(path)
            except InvalidInput:
                detector = None
        if detector is None:
            detector = build()
            detector.save(path)
        self._memory[key] = detector
        self._saved[key] = len(detector._nulls)
        while len(self._memory) > self.max_in_memory:
            self._forget(next(iter(self._memory)))
        return detector

    def retain(self, versions: set[int]) -> None:
        """Keep in memory only the detectors of ``versions`` (saving new nulls first)."""
        for key in [k for k in self._memory if k[0] not in versions]:
            self._forget(key)

    def versions_in_memory(self) -> list[int]:
        """Model versions whose detectors are in memory, least recently used first."""
        return [key[0] for key in self._memory]

    def _forget(self, key: tuple[int, float, float]) -> None:
        self.save(key[0])
        del self._memory[key]
        self._saved.pop(key, None)

    def save(self, model_version: int | None) -> None:
        """Persist the nulls computed since the last save (after scoring new window sizes)."""
        if model_version is None:
            return
        key = (model_version, self.threshold, self.false_alarm_rate)
        detector = self._memory.get(key)
        if detector is not None and self._saved.get(key) != len(detector._nulls):
            detector.save(self.path_for(model_version))
            self._saved[key] = len(detector._nulls)
