"""Champion versus challenger on identical evaluation sets.

For each set (the persisted test split; the held-out recent labelled feedback) both models
score exactly the same messages. Reported per set: accuracy, precision, recall and F1 on the
spam class and the confusion matrices (computed with ``sklearn.metrics``), McNemar's exact
test on the discordant pairs, and a percentile bootstrap interval for the accuracy
difference (paired resampling of messages). Pure: the caller passes predictions in.

McNemar's exact test: with b = messages only the champion got right and c = messages only
the challenger got right, p = two-sided binomial test of min(b, c) in b + c trials at 1/2
(Edwards 1948; Dietterich 1998, "Approximate statistical tests for comparing supervised
classification learning algorithms").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.rules import EvaluationSummary
from engine.training import Metrics, metrics_from_predictions

BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class ModelScore:
    """One model on one evaluation set."""

    version: int | None
    metrics: Metrics
    confusion: tuple[tuple[int, int], tuple[int, int]]
    """``((tn, fp), (fn, tp))`` with spam as the positive class."""


@dataclass(frozen=True)
class SetComparison:
    """Champion and challenger on one evaluation set."""

    name: str
    """``test_split`` or ``recent_feedback``."""
    n: int
    champion: ModelScore
    challenger: ModelScore
    accuracy_difference: float
    """Challenger minus champion accuracy."""
    mcnemar_b: int
    """Messages only the champion classified correctly."""
    mcnemar_c: int
    """Messages only the challenger classified correctly."""
    mcnemar_p_value: float
    bootstrap_low: float
    bootstrap_high: float
    """95% percentile bootstrap interval of the accuracy difference."""

    def summary(self) -> EvaluationSummary:
        """The numbers the deployment rule needs."""
        return EvaluationSummary(
            name=self.name, n=self.n,
            champion_accuracy=self.champion.metrics.accuracy,
            challenger_accuracy=self.challenger.metrics.accuracy,
            champion_f1=self.champion.metrics.f1,
            challenger_f1=self.challenger.metrics.f1,
        )


@dataclass(frozen=True)
class Comparison:
    """A full champion/challenger comparison."""

    champion_version: int | None
    challenger_version: int | None
    sets: tuple[SetComparison, ...]

    def get(self, name: str) -> SetComparison | None:
        """The comparison on set ``name``, if it was evaluated."""
        return next((s for s in self.sets if s.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (stored with the retraining event)."""
        return asdict(self)


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((tn, fp), (fn, tp))`` as ``sklearn.metrics.confusion_matrix`` computes it."""
    from sklearn.metrics import confusion_matrix

    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist()
    return (int(tn), int(fp)), (int(fn), int(tp))


def mcnemar_exact(champion_correct: np.ndarray, challenger_correct: np.ndarray
                  ) -> tuple[int, int, float]:
    """``(b, c, p)`` of McNemar's exact test on paired correctness vectors."""
    from scipy.stats import binomtest

    b = int(np.sum(champion_correct & ~challenger_correct))
    c = int(np.sum(~champion_correct & challenger_correct))
    if b + c == 0:
        return b, c, 1.0
    return b, c, float(binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue)


def bootstrap_difference(champion_correct: np.ndarray, challenger_correct: np.ndarray,
                         *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 42
                         ) -> tuple[float, float]:
    """95% percentile interval of the paired accuracy difference (challenger - champion)."""
    n = len(champion_correct)
    if n == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    delta = challenger_correct.astype(np.int8) - champion_correct.astype(np.int8)
    means = np.empty(samples)
    for start in range(0, samples, 256):  # chunks bound memory for large sets
        stop = min(samples, start + 256)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = delta[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def compare_on_set(name: str, y_true: np.ndarray,
                   champion_proba: np.ndarray, challenger_proba: np.ndarray,
                   *, champion_version: int | None, challenger_version: int | None,
                   seed: int = 42) -> SetComparison:
    """Compare two models' spam probabilities on the same labelled messages."""
    champion_pred = (champion_proba >= 0.5).astype(int)
    challenger_pred = (challenger_proba >= 0.5).astype(int)
    champion_correct = champion_pred == y_true
    challenger_correct = challenger_pred == y_true
    b, c, p = mcnemar_exact(champion_correct, challenger_correct)
    low, high = bootstrap_difference(champion_correct, challenger_correct, seed=seed)
    champion_metrics = metrics_from_predictions(y_true, champion_pred, champion_proba)
    challenger_metrics = metrics_from_predictions(y_true, challenger_pred, challenger_proba)
    return SetComparison(
        name=name, n=len(y_true),
        champion=ModelScore(champion_version, champion_metrics, confusion(y_true, champion_pred)),
        challenger=ModelScore(challenger_version, challenger_metrics,
                              confusion(y_true, challenger_pred)),
        accuracy_difference=challenger_metrics.accuracy - champion_metrics.accuracy,
        mcnemar_b=b, mcnemar_c=c, mcnemar_p_value=p, bootstrap_low=low, bootstrap_high=high,
    )
