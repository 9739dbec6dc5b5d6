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

from collections.abc import Sequence

import numpy as np

from engine.training import TrainingData, fit, spam_probability

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
