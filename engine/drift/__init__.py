"""Text drift: a baseline + a window of messages -> a calibrated ``DriftReport``.

The package is pure (no clock, no store, no registry; timestamps and texts are passed in); the
only files it touches are the detector cache's, where the caller says. It must not know any
scam vocabulary: every statistic is generic, so the detector works on drift whose words it has
never seen. What it offers, one module per concern (NannyML's layout):

- ``statistics``: tokens, the out-of-vocabulary rate, the distance of the window's mean
  TF-IDF vector from the span of the baseline means (maximum mean discrepancy, Gretton et al.
  2012), the predicted spam rate;
- ``null``: per-window-size nulls by a two-stage bootstrap, for the text statistics and the
  spam rate (prior shift), Šidák-combined, with extrapolated tail p-values;
- ``detector``: ``DriftDetector.fit`` on a reference, ``with_baseline`` for accepted windows,
  ``score`` -> ``DriftReport``;
- ``patterns``: ``new_patterns`` by G² keyness, with link domains, phone and money shapes;
- ``sequential``: the CUSUM over windows that confirms drift before a retrain;
- ``labels``: ``class_shift``, the champion on a window's labelled spam against its test
  split (the statistic that ``engine.label_trigger`` reads);
- ``report``: ``DriftReport`` and its JSON shape; ``cache``: ``DetectorCache``.

Scores: each component's statistic ``z`` is standardised by its null so that ``z = 1`` is the
edge of what unchanged traffic of that size produces at the per-component level; the reported
score is ``1 - (1 - threshold) ** max(z, 0)``, so ``threshold`` (0.15) is the null's upper
quantile at every window size. ``drift_detected`` is true when any component exceeds
(``drift_components`` lists which); ``p_value`` is the Šidák-combined tail probability.
New patterns are reported only when drift is detected: on unchanged traffic the most
over-represented terms are noise.
"""

from engine.drift.cache import DetectorCache, baseline_digest
from engine.drift.detector import (
    CACHE_FORMAT,
    HOLDOUT_FRACTION,
    MAX_HOLDOUT,
    MIN_REFERENCE,
    AcceptedWindow,
    DriftDetector,
    PredictProba,
)
from engine.drift.labels import class_shift
from engine.drift.null import NULL_GRID_STEP, NULL_WINDOWS, null_size
from engine.drift.patterns import MAX_PATTERNS, new_patterns, pattern_terms
from engine.drift.report import (
    COMPONENTS,
    DEFAULT_FALSE_ALARM_RATE,
    DEFAULT_THRESHOLD,
    SPAM_RATE,
    TEXT_COMPONENTS,
    DriftReport,
    Recommendation,
)
from engine.drift.sequential import CUSUM_H, CUSUM_K, CusumStep, cusum_step
from engine.drift.statistics import tokenize, word_subspace

__all__ = [
    "CACHE_FORMAT", "COMPONENTS", "CUSUM_H", "CUSUM_K", "DEFAULT_FALSE_ALARM_RATE",
    "DEFAULT_THRESHOLD", "HOLDOUT_FRACTION", "MAX_HOLDOUT", "MAX_PATTERNS", "MIN_REFERENCE",
    "NULL_GRID_STEP", "NULL_WINDOWS", "SPAM_RATE", "TEXT_COMPONENTS", "AcceptedWindow",
    "CusumStep", "DetectorCache", "DriftDetector", "DriftReport", "PredictProba",
    "Recommendation", "baseline_digest", "class_shift", "cusum_step", "new_patterns", "null_size",
    "pattern_terms", "tokenize", "word_subspace",
]
