"""The per-class label trigger: what the labels of one class say about the champion (pure).

Owns ``ClassShift`` (the champion on one class's labelled messages of a window against its test
split; computed by ``engine.drift.labels.class_shift``) and ``label_trigger``, the rule that
reads it. ``rules.decide_check`` applies it beside the drift and accuracy rules. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

_DECIMALS = 9


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


MIN_CLASS_LABELS = 30
"""Fewest labelled messages of a class in a window for the per-class label test to run."""


@dataclass(frozen=True)
class ClassShift:
    """The champion on one class's labelled messages of a window, against its test split.

    Computed by ``engine.drift.labels.class_shift``: ``p_value`` is the one-sided
    Mann-Whitney test that the champion's probability of the true class is lower on the
    window's labelled messages of the class than on the test split's.
    """

    label: str
    """``spam`` or ``ham``."""
    n: int
    correct: int
    """Labelled messages of the class in the window, and how many the champion got right."""
    reference_n: int
    reference_correct: int
    """The same on the persisted test split (out of sample for the champion)."""
    p_value: float
    effect: float
    """P(window score < test-split score) + half the ties: 0.5 when nothing changed."""
    handled: ClassShift | None = None
    """The same window against the labelled messages of the class in the windows already
    handled for this champion (its accepted baseline, issue 13 item 3); None when those hold
    fewer than ``MIN_CLASS_LABELS``. A shortfall that a cycle already judged does not fire
    again unless the window is also worse than that handled traffic."""

    @property
    def rate(self) -> float:
        """Share of the window's labelled messages of the class classified as that class."""
        return self.correct / self.n if self.n else 0.0

    @property
    def reference_rate(self) -> float:
        """The same share on the test split."""
        return self.reference_correct / self.reference_n if self.reference_n else 0.0


def label_trigger(shift: ClassShift | None, significance: float) -> tuple[bool, str]:
    """Does the per-class label test ask for a retrain? ``(fired, reason sentence)``.

    The accuracy floor looks at all labels, which ham dominates: the champion can miss one in
    eleven new scams while accuracy stays above 98%. The labels of one class say more. The
    trigger fires when (1) at least ``MIN_CLASS_LABELS`` messages of the class were labelled
    in the window, (2) the champion gets a smaller share of them right than of the test
    split's, and (3) its probabilities of the true class on them are significantly lower than
    on the test split's: one-sided Mann-Whitney U (Mann & Whitney 1947) below
    ``significance`` (``thresholds.significance``, 0.05 by default).
    The rank test reads the whole score, not only which side of 0.5 it fell: with errors at
    3%, the counts of a few hundred labels hardly move, while the scores of a new kind of spam
    crowd towards the boundary before they cross it. Both samples are out of sample for the
    champion, so on unchanged traffic the test has its nominal level. The sentence is empty
    when the test did not run.
    """
    if shift is None:
        return False, ""
    what = "recall" if shift.label == "spam" else "specificity"
    numbers = (f"{what} {_pct(shift.rate)} on {shift.n} labelled {shift.label} against "
               f"{_pct(shift.reference_rate)} on the test split's {shift.reference_n}; "
               f"one-sided Mann-Whitney p = {shift.p_value:.3g} on the champion's "
               f"{shift.label} probabilities (effect {shift.effect:.2f})")
    if shift.n < MIN_CLASS_LABELS:
        return False, ""
    if not _significantly_worse(shift, significance):
        return False, (f"Labels show no significant loss on {shift.label}: {numbers}.")
    handled = shift.handled
    if handled is not None and not _significantly_worse(handled, significance):
        # Settling, as for text drift: the cycle that accepted those windows already judged
        # this shortfall; the same traffic must not start a retrain every cooldown.
        return False, (f"Labels show {shift.label} caught worse than on the test split "
                       f"({numbers}), but no worse than on the {handled.reference_n} labelled "
                       f"{shift.label} of the windows already handled for this champion "
                       f"({what} {_pct(handled.reference_rate)}; one-sided Mann-Whitney "
                       f"p = {handled.p_value:.3g}).")
    also = (f"; also worse than the {handled.reference_n} labelled {shift.label} of the "
            f"windows already handled (p = {handled.p_value:.3g})" if handled else "")
    return True, (f"Labels show {shift.label} caught worse than on the test split: "
                  f"{numbers}{also} < {significance:g}.")


def settled(shift: ClassShift | None, significance: float) -> bool:
    """A shortfall against the test split that the handled windows already show: the label
    test does not fire, and the reason says why (``label_trigger``'s sentence)."""
    return (shift is not None and shift.n >= MIN_CLASS_LABELS and shift.handled is not None
            and _significantly_worse(shift, significance)
            and not _significantly_worse(shift.handled, significance))


def _significantly_worse(shift: ClassShift, significance: float) -> bool:
    worse = round(shift.rate, _DECIMALS) < round(shift.reference_rate, _DECIMALS)
    return worse and shift.p_value < significance
