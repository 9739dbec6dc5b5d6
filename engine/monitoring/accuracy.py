"""The champion's accuracy on a window: measured from labels, estimated without, or blended.

Owns ``AccuracyReading`` and the three ways to get one: ``measured_accuracy`` (labels, Wilson
interval), ``estimate_accuracy`` (CBPE from calibrated probabilities) and ``blend_accuracy``
(a few labels with the estimate). Pure functions on arrays: it must not read the store or
load a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class AccuracyReading:
    """The champion's accuracy on a window: measured from labels, or estimated."""

    value: float | None
    is_estimate: bool
    low: float | None
    high: float | None
    n_labels: int
    unreliable: bool = False
    """A label-free (CBPE) estimate that cannot be trusted: drift was detected, or the labels
    that arrived fall outside its interval (issue 13, item 5)."""


def estimate_accuracy(spam_proba: np.ndarray) -> AccuracyReading:
    """Expected accuracy of calibrated probabilities: mean of max(p, 1-p), with a 95% interval.

    Each message is right with probability q = max(p, 1-p) if the model is calibrated on this
    traffic, so accuracy is a Poisson-binomial mean with variance sum q(1-q) / n^2: NannyML's
    Confidence-Based Performance Estimation (CBPE,
    https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html). It
    assumes the model stays calibrated, which drift breaks: a check that detects drift marks
    the estimate ``unreliable`` (issue 13, item 5), and labels are blended in by
    ``blend_accuracy``.
    """
    if len(spam_proba) == 0:
        return AccuracyReading(None, True, None, None, 0)
    q = np.maximum(spam_proba, 1 - spam_proba)
    mean = float(q.mean())
    sd = float(np.sqrt(np.sum(q * (1 - q))) / len(q))
    return AccuracyReading(mean, True, max(0.0, mean - 1.96 * sd), min(1.0, mean + 1.96 * sd), 0)


def measured_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> AccuracyReading:
    """Accuracy on labelled messages, with a Wilson 95% interval."""
    n = len(y_true)
    correct = int(np.sum(y_true == y_pred))
    p = correct / n
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return AccuracyReading(p, False, float(centre - half), float(centre + half), n)


def blend_accuracy(estimate: AccuracyReading, measured: AccuracyReading) -> AccuracyReading:
    """Blend a label-free estimate with the few labels that arrived (fewer than ``min_labels``).

    The value is the inverse-variance weighted mean of the two (the Wilson interval's and the
    estimate's half-widths as standard errors); the reported interval is the hull of both
    intervals, so it covers the measured accuracy. When the intervals do not even overlap the
    labels contradict the estimate, and the reading is marked unreliable.
    """
    if estimate.value is None or measured.value is None:
        return estimate
    assert estimate.low is not None and estimate.high is not None
    assert measured.low is not None and measured.high is not None
    se_e = max((estimate.high - estimate.low) / 3.92, 1e-4)
    se_m = max((measured.high - measured.low) / 3.92, 1e-4)
    w_e, w_m = 1 / se_e**2, 1 / se_m**2
    value = (w_e * estimate.value + w_m * measured.value) / (w_e + w_m)
    disjoint = measured.high < estimate.low or measured.low > estimate.high
    return AccuracyReading(float(value), True, min(estimate.low, measured.low),
                           max(estimate.high, measured.high), measured.n_labels,
                           unreliable=disjoint)
