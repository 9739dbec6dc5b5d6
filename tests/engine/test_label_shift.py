"""The per-class label statistic (engine.drift.labels.class_shift) against scipy and its level."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from engine.drift.labels import class_shift
from engine.label_trigger import label_trigger


def test_spam_scored_lower_than_on_the_test_split_is_a_small_p() -> None:
    rng = np.random.default_rng(1)
    reference = rng.beta(12, 1, 130)  # test-split spam: confidently spam
    window = np.concatenate([rng.beta(12, 1, 60), rng.beta(3, 2, 50)])  # a new, less sure kind
    shift = class_shift("spam", window, reference)
    assert shift is not None
    expected = mannwhitneyu(window, reference, alternative="less", method="asymptotic")
    assert shift.p_value == pytest.approx(expected.pvalue)
    assert shift.p_value < 1e-6 and shift.effect > 0.6
    assert (shift.n, shift.correct) == (110, int(np.sum(window >= 0.5)))
    assert (shift.reference_n, shift.reference_correct) == (130, int(np.sum(reference >= 0.5)))
    assert label_trigger(shift, 0.05)[0]


def test_ham_is_judged_on_the_probability_of_ham() -> None:
    rng = np.random.default_rng(2)
    reference = rng.beta(1, 15, 900)  # ham: spam probability near 0
    flagged_more = rng.beta(1, 4, 200)  # the window's ham scored more spam-like
    shift = class_shift("ham", flagged_more, reference)
    assert shift is not None and shift.p_value < 1e-6
    assert shift.correct == int(np.sum(flagged_more < 0.5))
    same = class_shift("ham", reference[:200], reference[200:])
    assert same is not None and same.p_value > 0.05


def test_unchanged_traffic_fires_at_most_at_the_level() -> None:
    """Window and test split drawn from one distribution: the trigger (rank test below 0.05
    *and* fewer caught) fires in at most 5% of 2,000 windows, within binomial error."""
    rng = np.random.default_rng(3)
    fired = 0
    for _ in range(2000):
        scores = rng.beta(8, 1, 128 + 60)
        shift = class_shift("spam", scores[128:], scores[:128])
        fired += label_trigger(shift, 0.05)[0]
    assert fired / 2000 <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 2000)


def test_nothing_to_compare_is_none_and_a_wrong_label_is_refused() -> None:
    assert class_shift("spam", np.array([]), np.array([0.9])) is None
    with pytest.raises(ValueError, match="spam or ham"):
        class_shift("scam", np.array([0.9]), np.array([0.9]))
