"""The decision rules of spamops: pure functions from numbers and thresholds to decisions.

Two decisions live here, each with one-sentence reasons a person can read:

- ``decide_check``: after a monitoring check, ``RETRAIN`` or ``NO_ACTION`` by the rule
  *drift score > drift threshold OR accuracy < accuracy floor*; a window smaller than the
  minimum is ``NO_ACTION`` with that reason, never a false alarm; a rule that fires within the
  retrain cooldown is ``NO_ACTION`` with the rule *and* the cooldown as reasons.
- ``decide_deployment``: after a challenger was trained and compared, ``DEPLOY``, ``KEEP`` or
  ``PENDING_APPROVAL``: deploy only when accuracy improves by *more than* the minimum
  improvement and neither accuracy nor spam F1 regresses on the persisted test split beyond
  the tolerance.

No I/O, no clock, no randomness: the decision-table tests drive these directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

RETRAIN = "RETRAIN"
NO_ACTION = "NO_ACTION"
DEPLOY = "DEPLOY"
KEEP = "KEEP"
PENDING_APPROVAL = "PENDING_APPROVAL"

_DECIMALS = 9
"""Differences are rounded before comparing with a margin, so that 0.96 - 0.95 is exactly
at (not above) a 0.01 margin despite binary floating point."""


@dataclass(frozen=True)
class RuleThresholds:
    """The thresholds a decision was made with (recorded with every decision)."""

    drift: float = 0.15
    accuracy_floor: float = 0.93
    min_improvement: float = 0.01
    max_regression: float = 0.01
    min_window: int = 200
    min_labels: int = 50
    approval_policy: Literal["auto", "manual"] = "auto"
    retrain_cooldown_hours: float = 12.0


@dataclass(frozen=True)
class CheckInputs:
    """What a monitoring check measured."""

    window_size: int
    drift_score: float | None
    """Calibrated drift score of the window; None when it could not be computed."""
    accuracy: float | None
    """Champion accuracy on the window's labels, or its estimate; None when unknown."""
    accuracy_is_estimate: bool
    n_labels: int
    hours_since_retrain: float | None = None
    """Hours since the last retrain started (None: never)."""


@dataclass(frozen=True)
class CheckDecision:
    """The outcome of ``decide_check``."""

    decision: str
    triggers: tuple[str, ...]
    """Which rules fired: ``drift``, ``accuracy`` (empty for NO_ACTION)."""
    reasons: tuple[str, ...]


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def decide_check(inputs: CheckInputs, thresholds: RuleThresholds) -> CheckDecision:
    """Apply *drift > threshold OR accuracy < floor* to one monitoring window."""
    if inputs.window_size < thresholds.min_window:
        return CheckDecision(NO_ACTION, (), (
            f"Window of {inputs.window_size} predictions is below the minimum of "
            f"{thresholds.min_window}, so no drift or accuracy judgement was made.",))
    triggers: list[str] = []
    reasons: list[str] = []
    if inputs.drift_score is not None and inputs.drift_score > thresholds.drift:
        triggers.append("drift")
        reasons.append(f"Drift score {inputs.drift_score:.3f} is above the "
                       f"{thresholds.drift:.2f} threshold.")
    accuracy_kind = "estimated" if inputs.accuracy_is_estimate else "measured"
    label_note = ("from calibrated probabilities" if inputs.accuracy_is_estimate
                  else f"on {inputs.n_labels} labelled messages")
    accuracy = None if inputs.accuracy is None else round(inputs.accuracy, _DECIMALS)
    if accuracy is not None and accuracy < thresholds.accuracy_floor:
        triggers.append("accuracy")
        reasons.append(f"The {accuracy_kind} accuracy {_pct(accuracy)} ({label_note}) is "
                       f"below the {_pct(thresholds.accuracy_floor)} floor.")
    since = inputs.hours_since_retrain
    if triggers and since is not None and since < thresholds.retrain_cooldown_hours:
        # Retraining again within hours learns from almost the same labels: wait for more.
        reasons.append(f"The last retrain started {since:.1f} h ago, within the "
                       f"{thresholds.retrain_cooldown_hours:g} h cooldown, so no new retrain "
                       "yet.")
        return CheckDecision(NO_ACTION, tuple(triggers), tuple(reasons))
    if triggers:
        return CheckDecision(RETRAIN, tuple(triggers), tuple(reasons))
    parts = []
    if inputs.drift_score is not None:
        parts.append(f"drift score {inputs.drift_score:.3f} is within the "
                     f"{thresholds.drift:.2f} threshold")
    else:
        parts.append("drift could not be measured")
    if inputs.accuracy is not None:
        parts.append(f"{accuracy_kind} accuracy {_pct(inputs.accuracy)} meets the "
                     f"{_pct(thresholds.accuracy_floor)} floor")
    else:
        parts.append("accuracy is unknown")
    sentence = " and ".join(parts)
    return CheckDecision(NO_ACTION, (), (sentence[0].upper() + sentence[1:] + ".",))


@dataclass(frozen=True)
class EvaluationSummary:
    """Champion and challenger metrics on one evaluation set."""

    name: str
    n: int
    champion_accuracy: float
    challenger_accuracy: float
    champion_f1: float
    challenger_f1: float


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


def decide_deployment(test_split: EvaluationSummary | None,
                      recent: EvaluationSummary | None,
                      thresholds: RuleThresholds,
                      *, training_error: str | None = None) -> DeploymentDecision:
    """Decide whether a challenger replaces the champion.

    The improvement is measured on held-out recent labelled traffic when there is enough of
    it (drift is about recent traffic), otherwise on the persisted test split. In both cases
    the challenger must not regress on the test split by more than ``max_regression`` in
    accuracy or spam F1. (Precision and recall are not gated one by one: the test split has
    about 130 spam messages, so a single message moves either by almost a point; F1 balances
    them.)
    """
    if training_error is not None or test_split is None:
        why = training_error or "no evaluation was possible"
        return DeploymentDecision(KEEP, None, "none", (
            f"The challenger could not be trained or evaluated ({why}), so the champion stays.",))
    use_recent = recent is not None and recent.n >= MIN_RECENT_FOR_DECISION
    basis = recent if use_recent and recent is not None else test_split
    improvement = round(basis.challenger_accuracy - basis.champion_accuracy, _DECIMALS)
    where = ("held-out recent feedback" if basis is recent
             else "the persisted test split")
    reasons: list[str] = []
    regressions = []
    for metric in ("accuracy", "f1"):
        before = getattr(test_split, f"champion_{metric}")
        after = getattr(test_split, f"challenger_{metric}")
        drop = round(before - after, _DECIMALS)
        if drop > thresholds.max_regression:
            regressions.append(f"{metric} {_pct(before)} -> {_pct(after)}")
    margin = f"{thresholds.min_improvement * 100:.1f}"
    gain = f"{improvement * 100:+.1f}"
    if improvement <= round(thresholds.min_improvement, _DECIMALS):
        reasons.append(f"Accuracy changes by {gain} points on {where} ({basis.n} messages), "
                       f"not more than the required {margin}, so the champion stays.")
        return DeploymentDecision(KEEP, improvement, basis.name, tuple(reasons))
    if regressions:
        reasons.append(f"Accuracy improves by {gain} points on {where}, but the test split "
                       f"regresses beyond {_pct(thresholds.max_regression)} "
                       f"({'; '.join(regressions)}), so the champion stays.")
        return DeploymentDecision(KEEP, improvement, basis.name, tuple(reasons))
    reasons.append(f"Accuracy improves by {gain} points on {where} ({basis.n} messages), "
                   f"more than the required {margin}, with no regression on the test split.")
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
