"""Cross-fitted challenger scores: every recent label judged by a model that never saw it.

The deploy gate decides on held-out recent labels (``rules.decide_deployment``). Holding out
a share by time leaves few of them when the new traffic is small: on the issue-13 smishing
benchmark 40% labels of 138 new messages leave 19 held out, and McNemar's exact test needs at
least 6 messages that only the challenger gets right (and none the other way) to reach 0.05.
Cross-fitting (k-fold cross-validation used for a paired comparison: Dietterich 1998, section
3; Chernozhukov et al. 2018 for the name) scores the recent labels the challenger *does* train
on as well: they are cut into ``k`` folds, and each fold is scored by a model fitted with the
same recipe (``training.fit``) on everything the challenger was fitted on except that fold.
The deployed challenger itself is still the one fitted on all of it; the fold models are
thrown away. Each recent label then has an out-of-sample challenger probability, and the
comparison is paired on all of them.

Cost: ``k`` extra fits of the challenger's size (5 fits of ~5,000 messages take ~20 s on the
shared 2-core machine; the figure is in docs/architecture.md). Pure apart from the fits: no
store, no registry, no clock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.comparison import SetComparison, compare_on_set
from engine.training import TrainingData, fit, labels_to_int, spam_probability

if TYPE_CHECKING:
    import pandas as pd

MIN_FOLD_TEXTS = 2
"""Fewest recent labels worth cross-fitting (one per fold at ``k = 2``)."""


def fold_assignment(n: int, folds: int, seed: int) -> np.ndarray:
    """The fold (0 .. ``folds - 1``) of each of ``n`` items: a seeded permutation cut into
    ``folds`` near-equal parts (``numpy.array_split``). Empty when ``n`` is 0."""
    order = np.random.default_rng(seed).permutation(n)
    assignment = np.empty(n, dtype=int)
    for number, part in enumerate(np.array_split(order, max(1, min(folds, n)))):
        assignment[part] = number
    return assignment


def crossfit_probabilities(base_texts: Sequence[str], base_labels: Sequence[str],
                           recent_texts: Sequence[str], recent_labels: Sequence[str], *,
                           folds: int = 5, seed: int = 42) -> np.ndarray:
    """Out-of-fold spam probability of each recent text.

    Args:
        base_texts, base_labels: what every fold model trains on (the training split and the
            older feedback: everything the challenger was fitted on except the recent texts).
        recent_texts, recent_labels: the recent labelled messages the challenger also trains
            on; ``"spam"``/``"ham"`` labels.
        folds: ``k``; capped at the number of recent texts.
        seed: fold assignment and model seed (the challenger's seed).

    Returns:
        ``float`` array, one spam probability per recent text, from the model fitted without
        that text's fold.

    Raises:
        ValueError: ``folds < 2`` or fewer than ``MIN_FOLD_TEXTS`` recent texts.
        TrainingError: a fold's training data lacks a class (from ``training.fit``).
    """
    if folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    if len(recent_texts) < MIN_FOLD_TEXTS or len(recent_texts) != len(recent_labels):
        raise ValueError(f"cross-fitting needs at least {MIN_FOLD_TEXTS} recent labels, one "
                         "label per text")
    assignment = fold_assignment(len(recent_texts), folds, seed)
    proba = np.zeros(len(recent_texts))
    for number in range(int(assignment.max()) + 1):
        inside = assignment == number
        train = dict(zip(base_texts, base_labels, strict=True))
        for text, label, held in zip(recent_texts, recent_labels, inside, strict=True):
            if not held:
                train[text] = label
        # A fold's own texts must not reach its model even when the base holds them too.
        for text, held in zip(recent_texts, inside, strict=True):
            if held:
                train.pop(text, None)
        data = TrainingData(list(train), list(train.values()), [], [], "")
        model, _seconds = fit(data, seed)
        scored = [text for text, held in zip(recent_texts, inside, strict=True) if held]
        proba[inside] = spam_probability(model, scored)
    return proba


@dataclass(frozen=True)
class RecentComparison:
    """Champion and challenger on every recent label, each scored out of sample."""

    comparison: SetComparison | None
    """The ``recent_feedback`` set (None: no recent labels at all)."""
    seconds: float
    """Wall time of the cross-fitting (0 when nothing was cross-fitted)."""


def compare_recent(champion: Any, challenger: Any, *, holdout: pd.DataFrame,
                   recent_train: pd.DataFrame, train_texts: Sequence[str],
                   train_labels: Sequence[str], folds: int, seed: int,
                   champion_version: int | None, challenger_version: int | None,
                   earlier: pd.DataFrame | None = None) -> RecentComparison:
    """Compare on every label since the champion was trained, each scored out of sample.

    The set is the held-out labels, the evaluation-set labels of earlier retrains against
    the same champion (``earlier``) and the recent labels the challenger trained on
    (cross-fitted): every labelled message the champion faced since it was trained, outside
    the frozen test split. A label held out by an earlier KEEP therefore still counts when
    the next retrain decides against the same champion (issue 13: a KEEP for want of
    evidence is decided again with more of it).

    Args:
        champion, challenger: fitted pipelines.
        holdout: recent labels kept out of the challenger's training (``text``,
            ``true_label``, ``labelled_at``): scored by the challenger itself.
        earlier: evaluation-set labels (same columns) received after the champion was
            trained: no model trains on the evaluation set, so the challenger scores them
            itself. None or empty: none.
        recent_train: recent labels the challenger trained on that the champion cannot have
            seen (received after it was trained): scored by cross-fitted fold models.
        train_texts, train_labels: everything the challenger was fitted on.
        folds: ``k``; below 2, or fewer than ``MIN_FOLD_TEXTS`` recent training labels, only
            the hold-out is compared (the comparison before cross-fitting).
        seed: the challenger's seed.
    """
    import pandas as pd

    crossfit = folds >= 2 and len(recent_train) >= MIN_FOLD_TEXTS
    earlier = earlier if earlier is not None and len(earlier) else None
    scored = pd.concat([holdout, earlier], ignore_index=True) if earlier is not None \
        else holdout
    frames = [scored, recent_train] if crossfit else [scored]
    recent = pd.concat(frames, ignore_index=True) if len(frames) > 1 else scored
    if not len(recent):
        return RecentComparison(None, 0.0)
    challenger_proba = spam_probability(challenger, scored["text"].tolist())
    started = time.perf_counter()
    if crossfit:
        out_of_fold = crossfit_probabilities(
            train_texts, train_labels, recent_train["text"].tolist(),
            recent_train["true_label"].tolist(), folds=folds, seed=seed)
        challenger_proba = np.concatenate([challenger_proba, out_of_fold])
    seconds = time.perf_counter() - started if crossfit else 0.0
    texts = recent["text"].tolist()
    stamps = recent["labelled_at"]
    comparison = compare_on_set(
        "recent_feedback", labels_to_int(recent["true_label"].tolist()),
        spam_probability(champion, texts), challenger_proba,
        champion_version=champion_version, challenger_version=challenger_version, seed=seed,
        first_at=_iso(stamps.min()), last_at=_iso(stamps.max()),
        crossfit_n=len(recent_train) if crossfit else 0,
        crossfit_folds=min(folds, len(recent_train)) if crossfit else 0,
        earlier_n=0 if earlier is None else len(earlier))
    return RecentComparison(comparison, seconds)


def _iso(value: Any) -> str:
    """ISO seconds of a store timestamp (as ``engine.monitoring`` writes set dates)."""
    return str(value)[:19].replace(" ", "T")
