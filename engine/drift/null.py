"""Null distributions per window size: what unchanged traffic of ``n`` messages scores.

Owns calibration (NannyML's "calibrate alert thresholds on reference chunks", with a
permutation-style null per size; Good, *Permutation, Parametric and Bootstrap Tests of
Hypotheses*):

- **text**: ``B`` null windows of ``n`` messages drawn from the held-out reference by a
  two-stage bootstrap (resample the held-out set, then draw the window from that resample), so
  the spread includes the uncertainty of the held-out set itself. Each statistic ``x`` becomes
  ``z = (x - median) / (q - median)`` with ``q`` the null's upper quantile; the two text
  statistics are combined by their maximum, calibrated against its own null.
- **spam rate (prior shift)**: the predicted spam rate of ``n`` messages drawn the same
  two-stage way from a set of out-of-sample predicted labels: ``p* ~ Binomial(m, p̂) / m``,
  then ``rate ~ Binomial(n, p*) / n``. The first stage is the reference's own sampling error,
  which a two-proportion z-test against an exact reference rate leaves out (issue 13, item 4).
- **tail p-values**: beyond the largest null values the empirical p-value would stop at
  ``1 / (B + 1)``; the tail is extrapolated with an exponential fitted to the top exceedances
  (the generalized-Pareto tail with shape 0 of Knijnenburg et al. 2009, "Fewer permutations,
  more accurate P-values", https://doi.org/10.1093/bioinformatics/btp211), so a sequential
  test can tell a strong shift from a barely-significant one.
Pure numpy, deterministic for a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from engine.drift.statistics import Span

NULL_WINDOWS = 500
"""Null windows drawn per window size; the empirical p-value resolution is 1 / (B + 1)."""
NULL_GRID_STEP = 1.05
"""Relative step of the window-size grid that nulls are cached on."""
TAIL_POINTS = 25
"""Null values beyond which the tail is extrapolated (exponential fit to the top ones)."""


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


def component_level(false_alarm_rate: float, components: int) -> float:
    """Šidák per-component level so that ``components`` independent tests alarm at the rate."""
    return float(1.0 - (1.0 - false_alarm_rate) ** (1.0 / max(1, components)))


def squash(z: float, threshold: float) -> float:
    """Map a null-standardised excess onto [0, 1]; ``z = 1`` maps to ``threshold``."""
    if not math.isfinite(z):
        return 1.0 if z > 0 else 0.0
    return float(1.0 - (1.0 - threshold) ** max(z, 0.0))


def tail_p_value(sorted_null: np.ndarray, value: float) -> float:
    """P(null >= value): empirical, with an exponential tail beyond the top ``TAIL_POINTS``."""
    b = len(sorted_null)
    exceed = b - int(np.searchsorted(sorted_null, value, side="left"))
    if exceed >= TAIL_POINTS or b <= 2 * TAIL_POINTS:
        return (1 + exceed) / (1 + b)
    top = sorted_null[-TAIL_POINTS:]
    cut = float(sorted_null[-TAIL_POINTS - 1])
    scale = max(float(np.mean(top - cut)), 1e-12)
    return float(TAIL_POINTS / (1 + b) * math.exp(-(value - cut) / scale))


@dataclass(frozen=True)
class TextNull:
    """The null of the text statistics for one window size."""

    center: np.ndarray
    """Median of each statistic (vocabulary, tfidf)."""
    scale: np.ndarray
    """Upper quantile minus median of each statistic."""
    combined: np.ndarray
    """Sorted null values of the combined statistic (max of standardised statistics)."""
    combined_quantile: float


def text_null(size: int, *, hold_oov: np.ndarray, hold_len: np.ndarray,
              hold_dots: np.ndarray, gram: np.ndarray, span: Span, level: float, seed: int,
              windows: int = NULL_WINDOWS) -> TextNull:
    """Draw ``windows`` two-stage bootstrap windows of ``size`` held-out messages and score them.

    ``hold_dots`` is ``hold_features @ span.basis.T`` and ``gram`` the held-out Gram matrix, so
    a window's summed vector never needs to be formed.
    """
    n_hold = len(hold_oov)
    rng = np.random.default_rng([seed, size])
    weights = rng.multinomial(n_hold, np.full(n_hold, 1.0 / n_hold), size=windows) / n_hold
    counts = rng.multinomial(size, weights).astype(np.float64)
    tokens = counts @ hold_len
    oov = np.divide(counts @ hold_oov, tokens, out=np.zeros_like(tokens), where=tokens > 0)
    norm_sq = np.einsum("bi,bi->b", counts, counts @ gram)
    distance = span.distance(counts @ hold_dots, norm_sq)
    stats = np.column_stack([oov, distance])
    center = np.median(stats, axis=0)
    upper = np.quantile(stats, 1.0 - level, axis=0, method="higher")
    scale = np.maximum(upper - center, 1e-9)
    combined = np.sort(np.max((stats - center) / scale, axis=1))
    quantile = float(max(np.quantile(combined, 1.0 - level, method="higher"), 1e-9))
    return TextNull(center=center, scale=scale, combined=combined, combined_quantile=quantile)


@dataclass(frozen=True)
class PriorNull:
    """The null of the predicted spam rate for one window size and one baseline state."""

    center: float
    """Median null spam rate."""
    deviations: np.ndarray
    """Sorted null values of ``|rate - center|``."""
    quantile: float
    """Upper quantile of the deviations at the component level."""


def prior_null(size: int, labels: np.ndarray, *, level: float, seed: int,
               windows: int = NULL_WINDOWS) -> PriorNull:
    """Two-stage binomial null of the predicted spam rate of ``size`` messages.

    Args:
        labels: out-of-sample predicted labels (0/1) of messages from the baseline state.
    """
    m = len(labels)
    rng = np.random.default_rng([seed, size, m, 7])
    p_hat = float(np.mean(labels)) if m else 0.0
    p_star = rng.binomial(m, p_hat, size=windows) / max(m, 1)
    rates = rng.binomial(size, p_star) / size
    center = float(np.median(rates))
    deviations = np.sort(np.abs(rates - center))
    # Half a message of slack: a discrete rate cannot sit exactly on the quantile.
    quantile = float(np.quantile(deviations, 1.0 - level, method="higher")) + 0.5 / size
    return PriorNull(center=center, deviations=deviations, quantile=quantile)


def gram_of(hold_features: sp.csr_matrix) -> np.ndarray:
    """The dense Gram matrix of the held-out rows (inner products of unit vectors)."""
    return np.asarray((hold_features @ hold_features.T).toarray(), dtype=np.float64)
