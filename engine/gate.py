"""The deploy gate: champion versus challenger, ``DEPLOY``, ``KEEP`` or ``PENDING_APPROVAL``.

Owns ``decide_deployment`` and the numbers it reads (``PairedDifference``,
``EvaluationSummary``, computed by ``engine.comparison``): deploy only when accuracy improves
by *more than* the minimum improvement on the deciding set, the gain is significant there
(McNemar's exact test), and the challenger is non-inferior on every guard set (accuracy, and
the ham false-positive rate) by the 95% interval of the paired difference. A set on which
the champion errs fewer times than McNemar needs to reach the level cannot show any gain
(``min_one_way_discordant``): the reason says "not yet enough evidence".

Pure: no I/O, no clock, no randomness; the decision-table tests drive it directly.
``engine.rules`` re-exports every public name, the thresholds live there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.rules import RuleThresholds

DEPLOY = "DEPLOY"
KEEP = "KEEP"
PENDING_APPROVAL = "PENDING_APPROVAL"

_DECIMALS = 9
"""Differences are rounded before comparing with a margin, so that 0.96 - 0.95 is exactly
at (not above) a 0.01 margin despite binary floating point."""


@dataclass(frozen=True)
class PairedDifference:
    """Challenger minus champion on one proportion, measured on the same messages.

    For accuracy the proportion is "classified correctly" over all messages; for the ham
    false-positive rate it is "flagged as spam" over the ham messages. The numbers come from
    ``engine.comparison``; this module only compares them with the margins.
    """

    n: int
    """Messages the proportion is taken over."""
    champion: float
    challenger: float
    champion_only: int
    """Discordant messages where only the champion has the property (right / flagged)."""
    challenger_only: int
    """Discordant messages where only the challenger has it."""
    p_value: float
    """McNemar's exact test of the discordant pairs (two-sided)."""
    low: float
    high: float
    """95% interval of ``challenger - champion`` (see ``comparison.paired_interval``)."""
    resolution: float
    """Half-width of that interval when the two models never disagree: the narrowest this set
    can give. A margin at or below it cannot be shown on this set, whatever the models do."""

    @property
    def difference(self) -> float:
        """Challenger minus champion (the observed difference)."""
        return self.challenger - self.champion


@dataclass(frozen=True)
class EvaluationSummary:
    """Champion and challenger on one evaluation set: what the deployment rule reads."""

    name: str
    """``recent_feedback``, ``test_split`` or ``evaluation_set``."""
    n: int
    accuracy: PairedDifference
    ham_fpr: PairedDifference | None
    """Ham predicted spam, over the set's ham messages (None: the set has no ham)."""
    first_at: str | None = None
    last_at: str | None = None
    """When the set's labels were given (ISO dates; None for the frozen test split)."""
    crossfit_n: int = 0
    """Messages scored by cross-fitted challengers (``engine.crossfit``) rather than held out."""
    crossfit_folds: int = 0
    earlier_n: int = 0
    """Messages held out by earlier retrains against the same champion (kept in the
    evaluation set) that count again in this recent set."""


@dataclass(frozen=True)
class DeploymentDecision:
    """The outcome of ``decide_deployment``."""

    decision: str
    improvement: float | None
    """Challenger minus champion accuracy on the set that decides (None when untrained)."""
    basis: str
    """The evaluation set the improvement was measured on."""
    reasons: tuple[str, ...]


MIN_RECENT_FOR_DECISION = 30
"""Fewest held-out recent labels for the improvement to be measured on recent traffic
rather than on the persisted test split."""

_SET_NAMES = {"recent_feedback": "held-out recent feedback",
              "test_split": "the persisted test split",
              "evaluation_set": "the evaluation set of earlier episodes"}


def _pts(value: float) -> str:
    return f"{value * 100:+.2f}"


def _where(s: EvaluationSummary) -> str:
    dates = ""
    if s.first_at and s.last_at:
        first, last = s.first_at[:10], s.last_at[:10]
        dates = f", labelled {first}" if first == last else f", labelled {first} to {last}"
    name = _SET_NAMES.get(s.name, s.name)
    crossfit = ""
    if s.crossfit_n:
        name = "recent feedback"
        crossfit = (f", {s.crossfit_n:,} of them scored out of fold by {s.crossfit_folds}-fold "
                    "cross-fitted challengers")
    if s.earlier_n:
        name = "recent feedback"
        crossfit += (f", {s.earlier_n:,} held out by earlier retrains against this "
                     "champion")
    return f"{name} ({s.n:,} messages{dates}{crossfit})"


def min_one_way_discordant(significance: float) -> int:
    """Fewest discordant messages, all one way, for McNemar's exact two-sided p to fall
    below ``significance``: the smallest c with 2 * 0.5**c < significance (6 at 0.05).

    A set on which the champion errs fewer times than this cannot show *any* challenger
    significantly better, whatever it does: only the champion's errors can become messages
    that the challenger alone gets right.
    """
    c = 1
    while 2 * 0.5 ** c >= significance and c < 64:
        c += 1
    return c


def _evidence_note(acc: PairedDifference, thresholds: RuleThresholds) -> str:
    """Why a set cannot yet show significance, when the champion's errors are too few."""
    errors = round(acc.n * (1 - acc.champion))
    needed = min_one_way_discordant(thresholds.significance)
    if errors >= needed:
        return ""
    return (f" Not yet enough evidence: the champion errs on only {errors} of these "
            f"{acc.n:,} messages, and McNemar's exact test needs at least {needed} that "
            f"only the challenger gets right (and none the other way) to reach "
            f"{thresholds.significance:g}, so no challenger could show a significant gain "
            "here: a lack of evidence, not evidence against the challenger.")


def _interval(d: PairedDifference) -> str:
    return f"95% interval [{_pts(d.low)}, {_pts(d.high)}]"


def _guard(s: EvaluationSummary, thresholds: RuleThresholds) -> tuple[bool, str]:
    """Non-inferiority of the challenger on guard set ``s``: (passed, one sentence).

    Accuracy: the interval's lower bound must lie above ``-max_regression``; ham false-positive
    rate: the upper bound of its increase must lie below ``max_fpr_increase``. A set too small
    for a margin (its resolution is not below it) cannot show non-inferiority at all, so there
    the guard falls back to its mirror: it fails only on a *significant* change for the worse
    (McNemar exact at ``significance``).
    """
    alpha = thresholds.significance
    clauses: list[str] = []
    failed: list[str] = []
    checks: list[tuple[str, PairedDifference, float, int]] = [
        ("accuracy", s.accuracy, thresholds.max_regression, -1)]
    if s.ham_fpr is not None:
        checks.append(("ham false-positive rate", s.ham_fpr, thresholds.max_fpr_increase, +1))
    for label, d, margin, worse in checks:
        estimate = f"{label} {_pts(d.difference)} points"
        if label != "accuracy":
            estimate += f" on {d.n:,} ham"
        significant_worse = (d.p_value < alpha
                             and (d.challenger_only - d.champion_only) * worse > 0)
        if margin > 0 and d.resolution >= round(margin, _DECIMALS):
            text = (f"{estimate}, a set too small to show a {margin * 100:.1f}-point margin "
                    f"(resolution ±{d.resolution * 100:.2f}), so judged by McNemar exact "
                    f"p = {d.p_value:.3g}")
            if significant_worse:
                failed.append(text + f" < {alpha:g}: a significant regression")
            else:
                clauses.append(text + ": no significant regression")
            continue
        if worse < 0:
            ok = round(d.low, _DECIMALS) > round(-margin, _DECIMALS)
            text = (f"{estimate}, {_interval(d)}, lower bound "
                    f"{'above' if ok else 'not above'} -{margin * 100:.1f}")
        else:
            ok = round(d.high, _DECIMALS) < round(margin, _DECIMALS)
            text = (f"{estimate}, {_interval(d)}, upper bound "
                    f"{'below' if ok else 'not below'} +{margin * 100:.1f}")
        (clauses if ok else failed).append(text)
    if failed:
        return False, (f"Non-inferiority fails on {_where(s)}: {'; '.join(failed)}, so the "
                       "champion stays.")
    small = any("too small" in clause for clause in clauses)
    head = "No significant regression on" if small else "Non-inferior on"
    return True, f"{head} {_where(s)}: {'; '.join(clauses)}."


def decide_deployment(test_split: EvaluationSummary | None,
                      recent: EvaluationSummary | None,
                      thresholds: RuleThresholds,
                      *, evaluation: EvaluationSummary | None = None,
                      training_error: str | None = None) -> DeploymentDecision:
    """Decide whether a challenger replaces the champion.

    1. The deciding set is held-out recent labelled traffic when it has at least
       ``MIN_RECENT_FOR_DECISION`` messages (drift is about recent traffic), else the test
       split. Accuracy must improve there by more than ``min_improvement`` (the product
       rule) *and* significantly: McNemar's exact p below ``significance`` (Dietterich 1998).
    2. Every guard set (the persisted test split, and ``evaluation``: the growing set of
       labels held out by earlier retrains, so a challenger may not forget last month's
       scams) must show non-inferiority (see ``_guard``): the accuracy difference's 95%
       interval above ``-max_regression``, the ham false-positive rate's increase below
       ``max_fpr_increase``. Point estimates of F1, precision or recall on a hundred-odd spam
       messages no longer veto.

    Every reason sentence names the test, the estimate, the interval and the margin.
    """
    if training_error is not None or test_split is None:
        why = training_error or "no evaluation was possible"
        return DeploymentDecision(KEEP, None, "none", (
            f"The challenger could not be trained or evaluated ({why}), so the champion stays.",))
    use_recent = recent is not None and recent.n >= MIN_RECENT_FOR_DECISION
    basis = recent if use_recent and recent is not None else test_split
    acc = basis.accuracy
    improvement = round(acc.difference, _DECIMALS)
    margin = f"{thresholds.min_improvement * 100:.1f}"
    gain = f"{improvement * 100:+.2f}"
    discordant = (f"champion alone right on {acc.champion_only}, challenger alone on "
                  f"{acc.challenger_only}")
    if improvement <= round(thresholds.min_improvement, _DECIMALS):
        return DeploymentDecision(KEEP, improvement, basis.name, (
            f"Accuracy changes by {gain} points on {_where(basis)}, not more than the "
            f"required {margin}, so the champion stays.",))
    if not acc.p_value < thresholds.significance:
        return DeploymentDecision(KEEP, improvement, basis.name, (
            f"Accuracy improves by {gain} points on {_where(basis)}, more than the required "
            f"{margin}, but not significantly: McNemar exact p = {acc.p_value:.3g} "
            f"({discordant}) is not below {thresholds.significance:g}, so the champion "
            "stays." + _evidence_note(acc, thresholds),))
    reasons = [f"Accuracy improves by {gain} points on {_where(basis)}, more than the "
               f"required {margin}, and significantly: McNemar exact p = {acc.p_value:.3g} "
               f"< {thresholds.significance:g} ({discordant})."]
    guards = [test_split] + ([evaluation] if evaluation is not None and evaluation.n else [])
    for guard in guards:
        ok, sentence = _guard(guard, thresholds)
        reasons.append(sentence)
        if not ok:
            return DeploymentDecision(KEEP, improvement, basis.name, tuple(reasons))
    if thresholds.approval_policy == "manual":
        reasons.append("The approval policy is manual, so it waits for an operator.")
        return DeploymentDecision(PENDING_APPROVAL, improvement, basis.name, tuple(reasons))
    return DeploymentDecision(DEPLOY, improvement, basis.name, tuple(reasons))


def deciding_set(sets: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Of a stored comparison's ``sets``, the one ``decide_deployment`` judged on: held-out
    recent feedback with at least ``MIN_RECENT_FOR_DECISION`` messages, else the test split
    (``None`` when neither was evaluated)."""
    by_name = {s.get("name"): s for s in sets}
    recent = by_name.get("recent_feedback")
    if recent is not None and int(recent.get("n") or 0) >= MIN_RECENT_FOR_DECISION:
        return recent
    return by_name.get("test_split")
