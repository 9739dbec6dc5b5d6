"""``DriftDetector``: the baseline statistics, computed once, and the scoring of windows.

Owns fitting on a reference, extending the baseline with accepted windows (issue 13, item 3),
and scoring a window into a ``DriftReport``. The statistics are in ``statistics.py``, their
calibration in ``null.py``, the explanation in ``patterns.py``. Pure apart from ``save`` and
``load`` (joblib, at a path the caller gives). It must not know any scam vocabulary.

The reference is the champion's training texts. ``fit`` holds out 30% (at most 2,000
messages), computes the reference statistics on the rest, and draws null windows from the
held-out part. Accepted windows (``with_baseline``) add their vocabulary, their mean TF-IDF
direction (``statistics.Span``) and their predicted spam rate as further states the traffic
may be in; the nulls are recomputed for the new baseline, so the false-alarm rate on traffic
like the reference is unchanged.
"""

from __future__ import annotations

import copy
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from engine.drift import null as nulls
from engine.drift.patterns import document_frequencies, new_patterns
from engine.drift.report import (
    DEFAULT_FALSE_ALARM_RATE,
    DEFAULT_THRESHOLD,
    SPAM_RATE,
    TFIDF,
    VOCABULARY,
    DriftReport,
)
from engine.drift.statistics import Span, features, oov_counts, tokenize
from engine.errors import InvalidInput

HOLDOUT_FRACTION = 0.3
"""Share of the reference held out to draw null windows from (never scored against itself)."""
MAX_HOLDOUT = 2000
"""Most held-out messages: enough for the null, and the Gram matrix stays small."""
MIN_REFERENCE = 20
"""Fewest reference messages a detector accepts."""
MIN_CLASS = 5
"""Fewest reference messages of a predicted class for its mean to join the span."""
CACHE_FORMAT = 2
"""Bumped whenever the saved detector layout changes, so stale caches are rebuilt."""

PredictProba = Callable[[Sequence[str]], Any]
"""Texts -> spam probabilities (array-like of floats)."""


@dataclass(frozen=True)
class AcceptedWindow:
    """A window of traffic accepted into the baseline (it was handled: deployed or kept)."""

    key: str
    """Stable identifier (the store's id of the accepted window)."""
    texts: tuple[str, ...]
    spam_probabilities: tuple[float, ...] | None = None
    """The champion's logged probabilities for ``texts`` (out of sample: live predictions)."""


@dataclass
class DriftDetector:
    """Baseline statistics, computed once, and the scoring of windows against them."""

    threshold: float
    false_alarm_rate: float
    seed: int
    model_version: int | None
    reference_size: int
    feature_space: Any
    support: np.ndarray
    """Columns of the feature space that the reference's fit part uses."""
    vocabulary: frozenset[str]
    """Tokens of the reference's fit part, plus those of accepted windows."""
    pattern_df: dict[str, int]
    """Document frequency of each pattern term in the reference (and accepted windows)."""
    pattern_docs: int
    basis: np.ndarray
    """Rows: the reference's mean TF-IDF vector (with a model, also the means of its predicted
    spam and ham), then each accepted window's."""
    hold_tokens: list[list[str]]
    hold_features: sp.csr_matrix
    prior_labels: list[np.ndarray]
    """Out-of-sample predicted labels per baseline state (reference first); empty: none."""
    reference_spam_rate: float | None = None
    predict_proba: PredictProba | None = None
    null_windows: int = nulls.NULL_WINDOWS
    baseline_key: str = ""
    baseline_windows: int = 0
    _text_nulls: dict[tuple[int, int], nulls.TextNull] = field(default_factory=dict)
    _gram: np.ndarray | None = None
    _hold_oov: np.ndarray | None = None
    format: int = CACHE_FORMAT

    # Building ----------------------------------------------------------------------------
    @classmethod
    def fit(cls, reference_texts: Sequence[str], *, feature_space: Any = None,
            predict_proba: PredictProba | None = None,
            prior_probabilities: Sequence[float] | np.ndarray | None = None,
            threshold: float = DEFAULT_THRESHOLD,
            false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE, seed: int = 42,
            model_version: int | None = None) -> DriftDetector:
        """Compute the reference statistics once.

        Args:
            reference_texts: the reference messages (the champion's training texts).
            feature_space: a fitted transformer ``list[str] -> sparse matrix``; default a
                word TF-IDF fitted on the reference.
            predict_proba: texts -> spam probabilities, for the spam-rate component.
            prior_probabilities: out-of-sample spam probabilities of messages like the
                reference (the champion's test split), the spam-rate null's reference. Without
                them ``predict_proba`` scores the held-out reference, which is in-sample for a
                model trained on it (its spam rate is then slightly optimistic).
            threshold: calibrated score above which drift is detected.
            false_alarm_rate: share of unchanged windows allowed to exceed ``threshold``.
            seed: seed of the hold-out split and of the null windows.
            model_version: the model the reference belongs to (reported, cache key).

        Raises:
            InvalidInput: too few reference messages, or a threshold out of range.
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
        vocabulary = frozenset(tok for t in fit_part for tok in tokenize(t))

        if feature_space is None:
            from sklearn.feature_extraction.text import TfidfVectorizer

            feature_space = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(fit_part)
        raw = sp.csr_matrix(feature_space.transform(fit_part), dtype=np.float64)
        # Keep only the features the fit part uses, and renormalise: a feature space fitted on
        # the whole reference (the champion's) knows the held-out messages' rare terms, which
        # new traffic loses; masking treats held-out and new messages alike.
        support = np.flatnonzero(np.asarray(raw.getnnz(axis=0)) > 0)
        fit_rows = features(feature_space, fit_part, support)
        basis = np.asarray(fit_rows.mean(axis=0), dtype=np.float64).reshape(1, -1)
        if predict_proba is not None:
            # With a model, the span also holds the mean of the reference's predicted spam and
            # of its predicted ham: a window that only mixes them differently (prior shift)
            # is then close in text, and the spam-rate component alone reports the shift.
            is_spam = np.asarray(predict_proba(fit_part), dtype=float) >= 0.5
            if MIN_CLASS <= int(is_spam.sum()) <= len(is_spam) - MIN_CLASS:
                basis = np.vstack([basis, *(np.asarray(fit_rows[mask].mean(axis=0),
                                                       dtype=np.float64).reshape(1, -1)
                                            for mask in (is_spam, ~is_spam))])
        prior: list[np.ndarray] = []
        if prior_probabilities is not None:
            prior.append((np.asarray(prior_probabilities, dtype=float) >= 0.5).astype(float))
        elif predict_proba is not None:
            prior.append((np.asarray(predict_proba(hold), dtype=float) >= 0.5).astype(float))
        return cls(threshold=threshold, false_alarm_rate=false_alarm_rate, seed=seed,
                   model_version=model_version, reference_size=len(texts),
                   feature_space=feature_space, support=support, vocabulary=vocabulary,
                   pattern_df=dict(document_frequencies(texts)), pattern_docs=len(texts),
                   basis=basis, hold_tokens=[tokenize(t) for t in hold],
                   hold_features=features(feature_space, hold, support), prior_labels=prior,
                   reference_spam_rate=float(np.mean(prior[0])) if prior else None,
                   predict_proba=predict_proba)

    def with_baseline(self, windows: Sequence[AcceptedWindow]) -> DriftDetector:
        """A detector whose baseline is this reference plus the accepted ``windows``.

        The reference statistics are reused; only the vocabulary, the span of means, the
        pattern frequencies, the spam-rate states and the nulls change. Empty windows are
        skipped. Returns a new detector (this one is unchanged).
        """
        usable = [w for w in windows if w.texts]
        extended = copy.copy(self)
        extended._text_nulls = {}
        extended._hold_oov = None
        if not usable:
            return extended
        vocabulary = set(self.vocabulary)
        pattern_df: Counter[str] = Counter(self.pattern_df)
        means = [self.basis]
        prior = list(self.prior_labels)
        for window in usable:
            texts = list(window.texts)
            vocabulary.update(tok for t in texts for tok in tokenize(t))
            pattern_df.update(document_frequencies(texts))
            rows = features(self.feature_space, texts, self.support)
            means.append(np.asarray(rows.mean(axis=0), dtype=np.float64).reshape(1, -1))
            if prior and window.spam_probabilities is not None:
                prior.append((np.asarray(window.spam_probabilities) >= 0.5).astype(float))
        extended.vocabulary = frozenset(vocabulary)
        extended.pattern_df = dict(pattern_df)
        extended.pattern_docs = self.pattern_docs + sum(len(w.texts) for w in usable)
        extended.basis = np.vstack(means)
        extended.prior_labels = prior
        extended.baseline_key = "+".join(w.key for w in usable)
        extended.baseline_windows = self.baseline_windows + len(usable)
        return extended

    # Nulls -------------------------------------------------------------------------------
    def _components(self, with_prior: bool) -> int:
        return 2 if with_prior else 1

    def _text_null(self, n: int, components: int) -> nulls.TextNull:
        size = nulls.null_size(n)
        cached = self._text_nulls.get((size, components))
        if cached is not None:
            return cached
        if self._gram is None:
            self._gram = nulls.gram_of(self.hold_features)
        span = Span(self.basis)
        null = nulls.text_null(
            size, hold_oov=self._hold_oov_counts(), hold_len=oov_counts(self.hold_tokens,
                                                                       frozenset())[1],
            hold_dots=np.asarray(self.hold_features @ span.basis.T), gram=self._gram,
            span=span, level=nulls.component_level(self.false_alarm_rate, components),
            seed=self.seed, windows=self.null_windows)
        self._text_nulls[(size, components)] = null
        return null

    def _hold_oov_counts(self) -> np.ndarray:
        if self._hold_oov is None:
            self._hold_oov = oov_counts(self.hold_tokens, self.vocabulary)[0]
        return self._hold_oov

    # Scoring -----------------------------------------------------------------------------
    def score(self, window_texts: Sequence[str], *, timestamp: datetime, source: str = "",
              spam_probabilities: Sequence[float] | np.ndarray | None = None) -> DriftReport:
        """Score one window against the baseline.

        Args:
            window_texts: the window's messages.
            timestamp: when the report is made (naive UTC; this module has no clock).
            source: where the window came from, echoed in the report.
            spam_probabilities: the window's spam probabilities when the caller already has
                them (logged predictions); else ``predict_proba`` is used when available.

        Raises:
            InvalidInput: an empty window, or probabilities of another length.
        """
        texts = [str(t) for t in window_texts]
        n = len(texts)
        if n == 0:
            raise InvalidInput(f"the window {source or ''} has no messages".replace("  ", " "))
        unseen, total = oov_counts((tokenize(t) for t in texts), self.vocabulary)
        oov = float(unseen.sum() / total.sum()) if total.sum() else 0.0
        summed = np.asarray(features(self.feature_space, texts, self.support).sum(axis=0),
                            dtype=np.float64).ravel()
        span = Span(self.basis)
        distance = float(span.distance((self.basis @ summed)[None, :],
                                       np.array([summed @ summed]))[0])

        spam_rate = self._spam_rate(texts, spam_probabilities)
        with_prior = spam_rate is not None and bool(self.prior_labels)
        k = self._components(with_prior)
        level = nulls.component_level(self.false_alarm_rate, k)
        null = self._text_null(n, k)
        z = (np.array([oov, distance]) - null.center) / null.scale
        combined = float(np.max(z))
        text_p = nulls.tail_p_value(null.combined, combined)
        text_ratio = combined / null.combined_quantile
        components = [name for name, value in ((VOCABULARY, z[0]), (TFIDF, z[1]))
                      if value > null.combined_quantile]

        prior_ratio, prior_p = -math.inf, 1.0
        if with_prior and spam_rate is not None:
            prior_ratio, prior_p = self._prior(n, spam_rate, level)
            if prior_ratio > 1.0:
                components.append(SPAM_RATE)
        p_value = 1.0 - (1.0 - min(text_p, prior_p)) ** k
        detected = bool(components)
        text_detected = VOCABULARY in components or TFIDF in components
        reference_rate = self.reference_spam_rate
        return DriftReport(
            source=source, n=n,
            vocabulary_drift=nulls.squash(float(z[0]) / null.combined_quantile,
                                          self.threshold),
            tfidf_drift=nulls.squash(float(z[1]) / null.combined_quantile, self.threshold),
            prediction_drift=(None if spam_rate is None or reference_rate is None
                              else abs(spam_rate - reference_rate)),
            prediction_p_value=prior_p if with_prior else None, spam_rate=spam_rate,
            drift_score=nulls.squash(max(text_ratio, prior_ratio), self.threshold),
            drift_detected=detected, threshold=self.threshold, p_value=float(p_value),
            new_patterns=(new_patterns(texts, self.pattern_df, self.pattern_docs)
                          if detected else ()),
            recommendation="RETRAIN" if text_detected else "NO_ACTION", timestamp=timestamp,
            reason=(None if text_detected or not detected else
                    "Only the predicted spam rate moved (a prior shift): an alert, not a reason "
                    "to retrain; the monitor retrains on it only when measured accuracy also "
                    "falls below the floor."),
            model_version=self.model_version, reference_size=self.reference_size,
            reference_spam_rate=reference_rate, vocabulary_oov_rate=oov,
            tfidf_distance=distance, false_alarm_rate=self.false_alarm_rate,
            drift_components=tuple(components),
            spam_rate_drift=(nulls.squash(prior_ratio, self.threshold) if with_prior
                             else None),
            text_p_value=float(text_p), baseline_windows=self.baseline_windows,
            baseline_key=self.baseline_key)

    def _spam_rate(self, texts: list[str],
                   given: Sequence[float] | np.ndarray | None) -> float | None:
        if given is not None:
            proba = np.asarray(given, dtype=float)
            if len(proba) != len(texts):
                raise InvalidInput(f"got {len(proba)} spam probabilities for {len(texts)} "
                                   "messages")
        elif self.predict_proba is not None:
            proba = np.asarray(self.predict_proba(texts), dtype=float)
        else:
            return None
        return float(np.mean(proba >= 0.5))

    def _prior(self, n: int, spam_rate: float, level: float) -> tuple[float, float]:
        """The spam-rate component: (ratio to threshold, p-value) against the closest state.

        The window is consistent with the baseline when it is consistent with *any* of its
        states (the reference or an accepted window), so the ratio is the smallest and the
        p-value the largest over states; on traffic like the reference this alarms no more
        often than the reference's own test.
        """
        size = nulls.null_size(n)
        ratios, p_values = [], []
        for labels in self.prior_labels:
            null = nulls.prior_null(size, labels, level=level, seed=self.seed,
                                    windows=self.null_windows)
            deviation = abs(spam_rate - null.center)
            ratios.append(deviation / max(null.quantile, 1e-9))
            p_values.append(nulls.tail_p_value(null.deviations, deviation - 0.5 / size))
        return min(ratios), max(p_values)

    # Persistence -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the detector (baseline statistics and nulls, not the predictor) to ``path``."""
        import joblib

        predictor, gram = self.predict_proba, self._gram
        try:
            self.predict_proba = None
            self._gram = None
            path.parent.mkdir(parents=True, exist_ok=True)
            # One partial file per process: two processes building the same cache entry at
            # once must not rename each other's file away (the last rename wins, whole).
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            joblib.dump(self, partial)
            partial.replace(path)
        finally:
            self.predict_proba, self._gram = predictor, gram

    @classmethod
    def load(cls, path: Path) -> DriftDetector:
        """Read a detector written by ``save``; raises ``InvalidInput`` if unusable."""
        import joblib

        try:
            detector = joblib.load(path)
        except Exception as exc:  # a truncated or foreign file: rebuild rather than crash
            raise InvalidInput(f"could not read the drift detector {path}: {exc}") from None
        if not isinstance(detector, cls) or getattr(detector, "format", None) != CACHE_FORMAT:
            raise InvalidInput(f"{path} is not a current drift detector")
        return detector

    def with_predictor(self, predict_proba: PredictProba | None) -> DriftDetector:
        """Attach the model's ``predict_proba`` (not saved with the detector); returns self."""
        self.predict_proba = predict_proba
        return self

    @property
    def null_count(self) -> int:
        """How many nulls are computed (the cache saves again when this grows)."""
        return len(self._text_nulls)
