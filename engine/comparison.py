"""Champion versus challenger on identical evaluation sets.

For each set (the persisted test split; the recent labelled feedback; the growing evaluation
set of earlier episodes) both models score exactly the same messages. On recent feedback the
challenger's scores are out of sample: held-out labels are scored by the challenger, the recent
labels it trained on by cross-fitted fold models (``engine.crossfit``). Reported per set:
accuracy, precision, recall and F1 on the spam class and the confusion matrices (computed with
``sklearn.metrics``); for accuracy and for the ham false-positive rate, the paired difference
with McNemar's exact test and a 95% interval; and a percentile bootstrap interval for the
accuracy difference (kept for comparison with older records). Pure: the caller passes
predictions in; the deployment gate (``rules.decide_deployment``) reads ``summary()``.

McNemar's exact test: with b = messages only the champion got right and c = messages only
the challenger got right, p = two-sided binomial test of min(b, c) in b + c trials at 1/2
(Edwards 1948; Dietterich 1998, "Approximate statistical tests for comparing supervised
classification learning algorithms").

Interval of a paired difference: the Wald interval with the Bonett-Price adjustment (Bonett &
Price 2012, "Adjusted Wald confidence interval for a difference of binomial proportions based
on paired data", J. Educ. Behav. Stat. 37:479-488), one of the intervals Fagerland, Lydersen
& Laake recommend for paired proportions (2014, Stat. Med. 33:2850-2875). Unlike the
percentile bootstrap it does not collapse to [0, 0] when the models never disagree, so a
small set cannot show non-inferiority it has no evidence for.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.rules import EvaluationSummary, PairedDifference
from engine.training import Metrics, metrics_from_predictions

BOOTSTRAP_SAMPLES = 2000
Z_95 = 1.959963984540054
"""Two-sided 95% standard-normal quantile."""


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
    accuracy_low: float = 0.0
    accuracy_high: float = 0.0
    """95% Bonett-Price interval of the accuracy difference: what the gate judges by."""
    accuracy_resolution: float = 0.0
    """Half-width of that interval if the models never disagreed on this set."""
    n_ham: int = 0
    champion_ham_fpr: float | None = None
    challenger_ham_fpr: float | None = None
    """Share of the set's ham that each model flags as spam (None: no ham in the set)."""
    ham_fpr_b: int = 0
    """Ham flagged only by the champion."""
    ham_fpr_c: int = 0
    """Ham flagged only by the challenger."""
    ham_fpr_p_value: float = 1.0
    ham_fpr_low: float = 0.0
    ham_fpr_high: float = 0.0
    """95% Bonett-Price interval of the ham false-positive rate's increase."""
    ham_fpr_resolution: float = 0.0
    first_at: str | None = None
    last_at: str | None = None
    """When the set's labels were given (ISO, UTC; None for the frozen test split)."""
    crossfit_n: int = 0
    """Messages of the set the challenger was trained on, scored instead by cross-fitted fold
    models (``engine.crossfit``); the other ``n - crossfit_n`` were held out from it."""
    crossfit_folds: int = 0
    earlier_n: int = 0
    """Messages of the set kept in the evaluation set by earlier retrains against the same
    champion (labelled after it was trained): out of sample for both models, scored by the
    challenger itself (``engine.crossfit.compare_recent``)."""

    def summary(self) -> EvaluationSummary:
        """The numbers the deployment rule needs."""
        accuracy = PairedDifference(
            n=self.n, champion=self.champion.metrics.accuracy,
            challenger=self.challenger.metrics.accuracy, champion_only=self.mcnemar_b,
            challenger_only=self.mcnemar_c, p_value=self.mcnemar_p_value,
            low=self.accuracy_low, high=self.accuracy_high,
            resolution=self.accuracy_resolution)
        ham_fpr = None
        if self.n_ham and self.champion_ham_fpr is not None \
                and self.challenger_ham_fpr is not None:
            ham_fpr = PairedDifference(
                n=self.n_ham, champion=self.champion_ham_fpr,
                challenger=self.challenger_ham_fpr, champion_only=self.ham_fpr_b,
                challenger_only=self.ham_fpr_c, p_value=self.ham_fpr_p_value,
                low=self.ham_fpr_low, high=self.ham_fpr_high,
                resolution=self.ham_fpr_resolution)
        return EvaluationSummary(name=self.name, n=self.n, accuracy=accuracy, ham_fpr=ham_fpr,
                                 first_at=self.first_at, last_at=self.last_at,
                                 crossfit_n=self.crossfit_n, crossfit_folds=self.crossfit_folds,
                                 earlier_n=self.earlier_n)


@dataclass(frozen=True)
class Comparison:
    """A full champion/challenger comparison."""

    champion_version: int | None
    challenger_version: int | None
    sets: tuple[SetComparison, ...]
    decided_on: str | None = None
    """The set whose accuracy gain decided (``rules.DeploymentDecision.basis``); the others
    were guards."""

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


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value of ``b`` and ``c`` discordant pairs (1.0 when none)."""
    from scipy.stats import binomtest

    if b + c == 0:
        return 1.0
    return float(binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue)


def paired_interval(n12: int, n21: int, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """95% interval of ``p1 - p2`` for two proportions measured on the same ``n`` items.

    ``n12`` items have the property under 1 only, ``n21`` under 2 only. Wald interval with
    the Bonett-Price adjustment: p12 = (n12 + 1) / (n + 2), p21 = (n21 + 1) / (n + 2),
    d = p12 - p21, bounds d ± z * sqrt((p12 + p21 - d^2) / (n + 2)), truncated to [-1, 1]
    (Bonett & Price 2012; Fagerland, Lydersen & Laake 2017, "Statistical Analysis of
    Contingency Tables", section 8.5). On their worked example (n12 = 6, n21 = 16, n = 161)
    it gives [-0.1195, -0.0032]. ``(0.0, 0.0)`` for an empty set.
    """
    if n <= 0:
        return 0.0, 0.0
    p12, p21 = (n12 + 1) / (n + 2), (n21 + 1) / (n + 2)
    d = p12 - p21
    half = z * math.sqrt(max(p12 + p21 - d * d, 0.0) / (n + 2))
    return max(-1.0, d - half), min(1.0, d + half)


def resolution(n: int, *, z: float = Z_95) -> float:
    """Half-width of ``paired_interval`` with no discordant pairs: the narrowest on ``n``."""
    low, high = paired_interval(0, 0, n, z=z)
    return (high - low) / 2 if n > 0 else 1.0


def mcnemar_exact(champion_correct: np.ndarray, challenger_correct: np.ndarray
                  ) -> tuple[int, int, float]:
    """``(b, c, p)`` of McNemar's exact test on paired correctness vectors."""
    b = int(np.sum(champion_correct & ~challenger_correct))
    c = int(np.sum(~champion_correct & challenger_correct))
    return b, c, mcnemar_p(b, c)


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
                   seed: int = 42, first_at: str | None = None,
                   last_at: str | None = None, crossfit_n: int = 0,
                   crossfit_folds: int = 0, earlier_n: int = 0) -> SetComparison:
    """Compare two models' spam probabilities on the same labelled messages.

    Args:
        y_true: 1 = spam, 0 = ham, one per message.
        champion_proba, challenger_proba: each model's spam probability for the same
            messages; a message is flagged as spam at p >= 0.5.
        first_at, last_at: when the set's labels were given (ISO), echoed in the result.
        crossfit_n, crossfit_folds: how many of the challenger's probabilities are out-of-fold
            scores of cross-fitted models (``engine.crossfit``), and over how many folds;
            echoed in the result (the pairing is the same either way).
        earlier_n: how many messages come from the evaluation set of earlier retrains
            against the same champion; echoed in the result.
    """
    champion_pred = (champion_proba >= 0.5).astype(int)
    challenger_pred = (challenger_proba >= 0.5).astype(int)
    champion_correct = champion_pred == y_true
    challenger_correct = challenger_pred == y_true
    b, c, p = mcnemar_exact(champion_correct, challenger_correct)
    low, high = bootstrap_difference(champion_correct, challenger_correct, seed=seed)
    champion_metrics = metrics_from_predictions(y_true, champion_pred, champion_proba)
    challenger_metrics = metrics_from_predictions(y_true, challenger_pred, challenger_proba)
    ham = y_true == 0
    n_ham = int(ham.sum())
    champion_flags = champion_pred[ham] == 1
    challenger_flags = challenger_pred[ham] == 1
    fpr_b = int(np.sum(champion_flags & ~challenger_flags))
    fpr_c = int(np.sum(~champion_flags & challenger_flags))
    acc_low, acc_high = paired_interval(c, b, len(y_true))
    fpr_low, fpr_high = paired_interval(fpr_c, fpr_b, n_ham)
    return SetComparison(
        name=name, n=len(y_true),
        champion=ModelScore(champion_version, champion_metrics, confusion(y_true, champion_pred)),
        challenger=ModelScore(challenger_version, challenger_metrics,
                              confusion(y_true, challenger_pred)),
        accuracy_difference=challenger_metrics.accuracy - champion_metrics.accuracy,
        mcnemar_b=b, mcnemar_c=c, mcnemar_p_value=p, bootstrap_low=low, bootstrap_high=high,
        accuracy_low=acc_low, accuracy_high=acc_high,
        accuracy_resolution=resolution(len(y_true)),
        n_ham=n_ham,
        champion_ham_fpr=float(champion_flags.mean()) if n_ham else None,
        challenger_ham_fpr=float(challenger_flags.mean()) if n_ham else None,
        ham_fpr_b=fpr_b, ham_fpr_c=fpr_c, ham_fpr_p_value=mcnemar_p(fpr_b, fpr_c),
        ham_fpr_low=fpr_low, ham_fpr_high=fpr_high, ham_fpr_resolution=resolution(n_ham),
        first_at=first_at, last_at=last_at, crossfit_n=crossfit_n,
        crossfit_folds=crossfit_folds, earlier_n=earlier_n,
    )
