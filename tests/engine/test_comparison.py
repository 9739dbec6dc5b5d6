"""Comparison numbers equal sklearn's on the same predictions; tests behave at the edges."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

from engine.comparison import (
    bootstrap_difference,
    compare_on_set,
    mcnemar_exact,
    paired_interval,
    resolution,
)


@pytest.fixture
def labelled() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = (rng.random(500) < 0.2).astype(int)
    champion = np.clip(y * 0.7 + rng.normal(0.15, 0.25, 500), 0, 1)
    challenger = np.clip(y * 0.8 + rng.normal(0.1, 0.2, 500), 0, 1)
    return y, champion, challenger


def test_metrics_equal_sklearn_on_the_same_predictions(labelled) -> None:
    y, champion, challenger = labelled
    sut = compare_on_set("test_split", y, champion, challenger,
                         champion_version=1, challenger_version=2)
    for score, proba in ((sut.champion, champion), (sut.challenger, challenger)):
        pred = (proba >= 0.5).astype(int)
        assert score.metrics.accuracy == accuracy_score(y, pred)
        assert score.metrics.precision == precision_score(y, pred)
        assert score.metrics.recall == recall_score(y, pred)
        assert score.metrics.f1 == f1_score(y, pred)
        assert [list(row) for row in score.confusion] == confusion_matrix(y, pred).tolist()
    assert sut.accuracy_difference == pytest.approx(
        sut.challenger.metrics.accuracy - sut.champion.metrics.accuracy)
    assert sut.n == 500


def test_mcnemar_counts_discordant_pairs_and_matches_the_binomial() -> None:
    from scipy.stats import binomtest

    champion = np.array([True] * 10 + [False] * 2 + [True] * 50)
    challenger = np.array([False] * 10 + [True] * 2 + [True] * 50)
    b, c, p = mcnemar_exact(champion, challenger)
    assert (b, c) == (10, 2)
    assert p == pytest.approx(binomtest(2, 12, 0.5).pvalue)
    assert p < 0.05


def test_identical_models_have_p_one_and_a_zero_interval() -> None:
    correct = np.array([True, False, True, True])
    assert mcnemar_exact(correct, correct) == (0, 0, 1.0)
    assert bootstrap_difference(correct, correct) == (0.0, 0.0)


def test_bootstrap_interval_contains_the_observed_difference(labelled) -> None:
    y, champion, challenger = labelled
    sut = compare_on_set("recent_feedback", y, champion, challenger,
                         champion_version=1, challenger_version=2)
    assert sut.bootstrap_low <= sut.accuracy_difference <= sut.bootstrap_high
    assert sut.bootstrap_high - sut.bootstrap_low < 0.2


def test_bootstrap_is_deterministic_for_a_seed(labelled) -> None:
    _y, champion, challenger = labelled
    a = bootstrap_difference(champion >= 0.5, challenger >= 0.5, seed=3)
    b = bootstrap_difference(champion >= 0.5, challenger >= 0.5, seed=3)
    assert a == b


def test_paired_interval_matches_the_published_bonett_price_example() -> None:
    # Fagerland, Lydersen & Laake (2017), section 8: Cavo et al. 2012, n12=6, n21=16, N=161;
    # Bonett-Price Wald interval -0.1195 to -0.0032 (ocbe-uio/contingencytables tests).
    low, high = paired_interval(6, 16, 161)
    assert (round(low, 4), round(high, 4)) == (-0.1195, -0.0032)


def test_paired_interval_is_not_degenerate_when_models_agree() -> None:
    low, high = paired_interval(0, 0, 150)
    assert low < 0 < high
    assert resolution(150) == pytest.approx(high)
    assert resolution(1000) < resolution(150)


def test_ham_false_positive_rate_is_paired_on_the_ham() -> None:
    y = np.array([0] * 10 + [1] * 4)
    champion = np.array([0.9] + [0.1] * 9 + [0.9] * 4)  # one ham flagged
    challenger = np.array([0.1] + [0.9] * 2 + [0.1] * 7 + [0.9] * 4)  # two other ham flagged
    sut = compare_on_set("recent_feedback", y, champion, challenger,
                         champion_version=1, challenger_version=2,
                         first_at="2026-11-20T10:00:00", last_at="2026-11-21T09:00:00")
    assert sut.n_ham == 10
    assert (sut.champion_ham_fpr, sut.challenger_ham_fpr) == (0.1, 0.2)
    assert (sut.ham_fpr_b, sut.ham_fpr_c) == (1, 2)
    assert sut.ham_fpr_low < 0.1 < sut.ham_fpr_high
    summary = sut.summary()
    assert summary.ham_fpr is not None and summary.ham_fpr.difference == pytest.approx(0.1)
    assert (summary.first_at, summary.last_at) == ("2026-11-20T10:00:00", "2026-11-21T09:00:00")


def test_a_set_without_ham_has_no_false_positive_rate() -> None:
    y = np.array([1, 1, 1])
    sut = compare_on_set("recent_feedback", y, np.array([0.9, 0.1, 0.9]),
                         np.array([0.9, 0.9, 0.9]), champion_version=1, challenger_version=2)
    assert sut.n_ham == 0 and sut.champion_ham_fpr is None
    assert sut.summary().ham_fpr is None
