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

from engine.comparison import bootstrap_difference, compare_on_set, mcnemar_exact


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
