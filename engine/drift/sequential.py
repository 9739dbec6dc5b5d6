"""A false-alarm budget over time: a one-sided CUSUM over the calibrated text p-values.

Owns the rule that turns a sequence of per-window drift tests into "drift confirmed" (issue 13,
item 8). Each window's test is calibrated to ``false_alarm_rate`` (5%), so a month of checks
every 2 hours (360 windows) would give about 18 alerts on unchanged traffic, and every one
that starts a retrain costs a training run and an operator's attention. Persistence is the
answer a control chart gives: Page's CUSUM (Page 1954, "Continuous inspection schemes",
Biometrika 41, https://doi.org/10.1093/biomet/41.1-2.100) on ``u = Φ⁻¹(1 - p)``, the probit of
each window's text p-value, which is standard normal on unchanged traffic whatever the window
size, because the p-values are calibrated per size (``null.py``)::

    S_t = max(0, S_{t-1} + u_t - k)        alarm when S_t > h

With ``k = 1`` and ``h = 3`` the average run length on unchanged traffic (ARL0) is about 2,200
checks (simulated with uniform p-values on a 1/501 grid: 10% of 360-check months see one
alarm), while a strong shift (``p < 3e-5``, ``u > 4``) alarms in its first window and two
windows at ``p = 0.001`` alarm in the second. The statistic is reset after a retrain started,
when the champion changes and when the accepted baseline changes, because each of those
starts a new sequence. Pure: the caller keeps ``S`` (in the drift snapshot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

CUSUM_K = 1.0
"""Reference value ``k``: the per-window evidence (in probit units) that unchanged traffic
cannot sustain; half of the 2-sigma shift the chart is tuned to detect."""
CUSUM_H = 3.0
"""Decision interval ``h``: the accumulated excess that confirms drift."""
MIN_P = 1e-12
"""Smallest p-value used (keeps ``u`` finite)."""


@dataclass(frozen=True)
class CusumStep:
    """One CUSUM update."""

    statistic: float
    """``S_t`` after this window."""
    evidence: float
    """``u_t = Φ⁻¹(1 - p_t)`` of this window."""
    alarm: bool
    """``S_t > h``: drift is confirmed."""


def cusum_step(previous: float, p_value: float, *, k: float = CUSUM_K,
               h: float = CUSUM_H) -> CusumStep:
    """Add one window's p-value to the CUSUM that ended at ``previous``."""
    p = min(max(p_value, MIN_P), 1.0)
    u = float(norm.isf(p)) if p < 1.0 else -math.inf
    u = max(u, -4.0)
    statistic = max(0.0, max(previous, 0.0) + u - k)
    return CusumStep(statistic=statistic, evidence=u, alarm=statistic > h)
