"""What labels say about one class: the champion on a window's labelled spam vs its test split.

Text drift reads the messages; the accuracy floor reads all labels, which ham dominates. This
module reads the labels of one class (issue 13: the champion missed one in eleven new scams
while overall accuracy stayed at 98.6% and the drift score at 0.06). Pure: the caller passes
the champion's spam probabilities in; the rule that acts on the result is
``label_trigger.label_trigger``.
"""

from __future__ import annotations

import numpy as np

from engine.label_trigger import ClassShift


def class_shift(label: str, window_proba: np.ndarray, reference_proba: np.ndarray
                ) -> ClassShift | None:
    """Compare the champion on one class's labelled messages of a window and of the test split.

    Args:
        label: ``spam`` or ``ham``: the true class of every message passed.
        window_proba: the champion's spam probability of each labelled message of the class in
            the window.
        reference_proba: the same for the persisted test split's messages of the class (out of
            sample for the champion).

    Returns:
        ``ClassShift`` with the counts classified correctly (at p >= 0.5) and the one-sided
        Mann-Whitney U test (``scipy.stats.mannwhitneyu``, ``alternative="less"``; asymptotic
        with tie correction) that the probability of the true class (p for spam, 1 - p for
        ham) is stochastically lower in the window; None when either sample is empty.
    """
    from scipy.stats import mannwhitneyu

    if label not in ("spam", "ham"):
        raise ValueError(f"label must be spam or ham, not {label!r}")
    window = np.asarray(window_proba, dtype=float)
    reference = np.asarray(reference_proba, dtype=float)
    if not len(window) or not len(reference):
        return None
    # Flagged as spam at p >= 0.5 (``comparison.compare_on_set``).
    correct = int(np.sum(window >= 0.5)) if label == "spam" else int(np.sum(window < 0.5))
    reference_correct = (int(np.sum(reference >= 0.5)) if label == "spam"
                         else int(np.sum(reference < 0.5)))
    if label == "ham":
        window, reference = 1 - window, 1 - reference
    result = mannwhitneyu(window, reference, alternative="less", method="asymptotic")
    effect = 1 - float(result.statistic) / (len(window) * len(reference))
    return ClassShift(label=label, n=len(window), correct=correct,
                      reference_n=len(reference), reference_correct=reference_correct,
                      p_value=float(result.pvalue), effect=effect)
