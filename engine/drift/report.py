"""``DriftReport``: the drift of one window, as the CLI, API, store and rules read it.

Owns the report's fields and its JSON shape (``spamops drift --json``); computes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from engine.records import PatternCount

DEFAULT_THRESHOLD = 0.15
"""Calibrated drift score above which drift is detected (``thresholds.drift``)."""
DEFAULT_FALSE_ALARM_RATE = 0.05
"""Share of unchanged windows allowed to exceed the threshold (``thresholds.false_alarm_rate``)."""

Recommendation = Literal["RETRAIN", "NO_ACTION", "INSUFFICIENT_DATA"]
"""``INSUFFICIENT_DATA``: set by ``rules.window_verdict`` for a window below the minimum."""

VOCABULARY = "vocabulary"
TFIDF = "tfidf"
SPAM_RATE = "spam_rate"
TEXT_COMPONENTS = (VOCABULARY, TFIDF)
"""Components that measure what the messages say (they can ask for a retrain)."""
COMPONENTS = (VOCABULARY, TFIDF, SPAM_RATE)
"""Every component ``drift_components`` can list."""


@dataclass(frozen=True)
class DriftReport:
    """The drift of one window of messages against the baseline (reference + accepted)."""

    source: str
    """Where the window came from (file name, ``monitor``, ...)."""
    n: int
    """Messages in the window."""
    vocabulary_drift: float
    """Calibrated score in [0, 1] of the window's token usage the baseline does not account for."""
    tfidf_drift: float
    """Calibrated score in [0, 1] of the shift of the mean TF-IDF vector out of the baseline."""
    prediction_drift: float | None
    """Absolute change of the predicted spam rate from the reference's (None without a model)."""
    prediction_p_value: float | None
    """Calibrated p-value of the spam-rate shift (two-stage null, reference error included)."""
    spam_rate: float | None
    """Predicted spam rate in the window."""
    drift_score: float
    """Calibrated combined score in [0, 1]; above ``threshold`` means drift."""
    drift_detected: bool
    """True when any component exceeds its calibrated threshold (see ``drift_components``)."""
    threshold: float
    p_value: float
    """Probability that unchanged traffic of this size scores at least this high (all
    components, Šidák-combined)."""
    new_patterns: tuple[PatternCount, ...]
    recommendation: Recommendation
    """``RETRAIN`` when a text component exceeds; a spam-rate-only shift is an alert."""
    timestamp: datetime
    model_version: int | None
    reference_size: int
    reference_spam_rate: float | None = None
    vocabulary_oov_rate: float = 0.0
    """Raw share of window tokens unseen in the baseline (before calibration)."""
    tfidf_distance: float = 0.0
    """Raw distance of the window's mean TF-IDF vector from the baseline span."""
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE
    drift_components: tuple[str, ...] = ()
    """Components that exceed: ``vocabulary``, ``tfidf``, ``spam_rate``."""
    spam_rate_drift: float | None = None
    """Calibrated score in [0, 1] of the spam-rate shift (None without a model)."""
    text_p_value: float = 1.0
    """Calibrated p-value of the text statistics alone (what the CUSUM accumulates)."""
    baseline_windows: int = 0
    """Accepted windows in the baseline besides the reference."""
    baseline_key: str = ""
    """Identifies the baseline state (empty: the reference alone)."""
    reason: str | None = None
    """Why the recommendation is what it is, when the scores alone do not say (small window)."""

    @property
    def text_drift(self) -> bool:
        """Whether a text component (vocabulary or TF-IDF) exceeds."""
        return any(c in TEXT_COMPONENTS for c in self.drift_components)

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
            "spam_rate_drift": r(self.spam_rate_drift),
            "drift_score": r(self.drift_score),
            "drift_detected": self.drift_detected,
            "drift_components": list(self.drift_components),
            "threshold": self.threshold,
            "false_alarm_rate": self.false_alarm_rate,
            "p_value": r(self.p_value),
            "text_p_value": r(self.text_p_value),
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
            "baseline_windows": self.baseline_windows,
            "vocabulary_oov_rate": r(self.vocabulary_oov_rate),
            "tfidf_distance": r(self.tfidf_distance),
        }
