"""The decision rules of spamops: pure functions from numbers and thresholds to decisions.

Two decisions live here, each with one-sentence reasons a person can read:

- ``decide_check``: after a monitoring check, ``RETRAIN`` or ``NO_ACTION`` by the rule
  *confirmed text drift OR accuracy < accuracy floor OR labelled spam significantly worse
  caught than on the test split* (``ClassShift``, the per-class label trigger); a window
  smaller than the minimum is ``INSUFFICIENT_DATA`` with that reason, never a false alarm
  (``window_verdict`` gives the same answer to ``spamops drift`` and the API); a rule that
  fires within the retrain cooldown is ``NO_ACTION`` with the rule *and* the cooldown as
  reasons. Drift in one window that the CUSUM has not confirmed, and a spam-rate-only shift,
  are alerts (``NO_ACTION`` with the alert as a reason); an unreliable estimate makes accuracy
  "unknown", never "fine".
- ``decide_deployment`` (defined in ``engine.gate``, re-exported here with its types): after a
  challenger was trained and compared, ``DEPLOY``, ``KEEP`` or ``PENDING_APPROVAL``.

No I/O, no clock, no randomness: the decision-table tests drive these directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.gate import _DECIMALS  # one rounding for every margin comparison

# Re-exported: the deploy gate (engine.gate) reads these rules' thresholds.
from engine.gate import DEPLOY as DEPLOY
from engine.gate import KEEP as KEEP
from engine.gate import MIN_RECENT_FOR_DECISION as MIN_RECENT_FOR_DECISION
from engine.gate import PENDING_APPROVAL as PENDING_APPROVAL
from engine.gate import DeploymentDecision as DeploymentDecision
from engine.gate import EvaluationSummary as EvaluationSummary
from engine.gate import PairedDifference as PairedDifference
from engine.gate import decide_deployment as decide_deployment
from engine.gate import deciding_set as deciding_set
from engine.gate import min_one_way_discordant as min_one_way_discordant

# Re-exported: the per-class label trigger is one of the check's rules.
from engine.label_trigger import MIN_CLASS_LABELS as MIN_CLASS_LABELS
from engine.label_trigger import ClassShift as ClassShift
from engine.label_trigger import label_trigger as label_trigger
from engine.label_trigger import settled

RETRAIN = "RETRAIN"
NO_ACTION = "NO_ACTION"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"



@dataclass(frozen=True)
class RuleThresholds:
    """The thresholds a decision was made with (recorded with every decision)."""

    drift: float = 0.15
    accuracy_floor: float = 0.93
    min_improvement: float = 0.01
    max_regression: float = 0.01
    significance: float = 0.05
    max_fpr_increase: float = 0.01
    min_window: int = 200
    min_labels: int = 50
    approval_policy: Literal["auto", "manual"] = "auto"
    retrain_cooldown_hours: float = 12.0
    prior_shift_action: Literal["alert", "retrain"] = "alert"
    """What a spam-rate-only shift does: ``alert`` (default) or ``retrain``."""
    cusum_h: float = 3.0
    """CUSUM decision interval that confirms drift (``engine.drift.sequential.CUSUM_H``)."""
    min_new_labels: int = 0
    """Labels a retrain could learn from (received since the last retrain) that confirmed
    drift waits for; 0 disables the wait."""


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
    drift_components: tuple[str, ...] = ()
    """Drift components that exceed (``vocabulary``, ``tfidf``, ``spam_rate``); empty with a
    score above threshold means "text" (older callers)."""
    drift_confirmed: bool | None = None
    """The CUSUM confirmed text drift across windows; None: no sequential test (one-off)."""
    cusum: float | None = None
    """The CUSUM statistic after this window."""
    accuracy_unreliable: bool = False
    """The (estimated) accuracy cannot be trusted: drift, or labels contradict it."""
    spam_rate: float | None = None
    reference_spam_rate: float | None = None
    new_labels: int | None = None
    """Labels received since the last retrain that a retrain could learn from (None: unknown,
    no wait)."""
    class_shift: ClassShift | None = None
    """The per-class label test on the window's labelled spam (None: not run)."""


@dataclass(frozen=True)
class CheckDecision:
    """The outcome of ``decide_check``."""

    decision: str
    triggers: tuple[str, ...]
    """Which rules fired: ``drift``, ``accuracy``, ``labels`` (empty for NO_ACTION)."""
    reasons: tuple[str, ...]


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def insufficient_reason(window_size: int, min_window: int, what: str = "predictions") -> str:
    """Why a window of ``window_size`` is not judged (one sentence)."""
    return (f"Window of {window_size} {what} is below the minimum of {min_window}, so no "
            "drift or accuracy judgement was made.")


WindowRecommendation = Literal["RETRAIN", "NO_ACTION", "INSUFFICIENT_DATA"]


def window_verdict(window_size: int, drift_detected: bool, min_window: int
                   ) -> tuple[WindowRecommendation, str | None]:
    """``(recommendation, reason)`` of a scored drift window, for ``spamops drift`` and the API.

    Below ``min_window`` the answer is ``INSUFFICIENT_DATA`` whatever the scores say: two
    messages cannot justify a retrain. Otherwise ``RETRAIN`` when drift was detected, else
    ``NO_ACTION`` (reason None: the scores speak for themselves). ``drift_detected`` is the text
    drift: a spam-rate-only shift (prior shift) is an alert, not a reason to retrain.
    """
    if window_size < min_window:
        return "INSUFFICIENT_DATA", insufficient_reason(window_size, min_window, "messages")
    return ("RETRAIN" if drift_detected else "NO_ACTION"), None


def decide_check(inputs: CheckInputs, thresholds: RuleThresholds) -> CheckDecision:
    """Apply *drift > threshold OR accuracy < floor* to one monitoring window.

    Drift asks for a retrain only when a text component (vocabulary, TF-IDF) exceeds and,
    when the monitor runs the sequential test, the CUSUM confirms it across windows (issue 13,
    item 8); a window that exceeds alone is an alert. A spam-rate-only shift (prior shift) is
    an alert unless ``prior_shift_action`` is ``retrain``; with an accuracy breach the accuracy
    rule retrains. A label-free estimate marked unreliable never counts as "accuracy is fine".

    The per-class label trigger (``labels``) fires when the window has at least
    ``MIN_CLASS_LABELS`` labelled messages of the class, the champion classifies a smaller
    share of them correctly than of the test split's, and the one-sided Mann-Whitney test of
    its scores is below ``significance`` (see ``label_trigger``).
    """
    if inputs.window_size < thresholds.min_window:
        return CheckDecision(INSUFFICIENT_DATA, (), (
            insufficient_reason(inputs.window_size, thresholds.min_window),))
    triggers: list[str] = []
    reasons: list[str] = []
    alerts: list[str] = []
    components = inputs.drift_components
    above = inputs.drift_score is not None and inputs.drift_score > thresholds.drift
    text_drift = above and (not components or any(c in ("vocabulary", "tfidf")
                                                  for c in components))
    prior_shift = "spam_rate" in components
    if text_drift and inputs.drift_score is not None:
        named = [c for c in components if c != "spam_rate"]
        which = f" ({', '.join(named)})" if named else ""
        waiting = (inputs.new_labels is not None
                   and inputs.new_labels < thresholds.min_new_labels)
        if inputs.drift_confirmed is not False and waiting:
            # A challenger trained without labels of the new traffic cannot learn it, and the
            # gate cannot judge it: the retrain would end KEEP with no gain (issue 13).
            alerts.append(f"Drift score {inputs.drift_score:.3f}{which} is above the "
                          f"{thresholds.drift:.2f} threshold, but only {inputs.new_labels} "
                          f"labels arrived since the last retrain (fewer than "
                          f"{thresholds.min_new_labels}), so the retrain waits for labels "
                          "of the new traffic.")
        elif inputs.drift_confirmed is None or inputs.drift_confirmed:
            triggers.append("drift")
            confirmed = ("" if inputs.drift_confirmed is None else
                         f", confirmed across windows by the CUSUM "
                         f"({_cusum(inputs.cusum)} > {thresholds.cusum_h:g})")
            reasons.append(f"Drift score {inputs.drift_score:.3f}{which} is above the "
                           f"{thresholds.drift:.2f} threshold{confirmed}.")
        else:
            alerts.append(f"Drift score {inputs.drift_score:.3f}{which} is above the "
                          f"{thresholds.drift:.2f} threshold in this window, but the CUSUM "
                          f"across windows ({_cusum(inputs.cusum)}) has not reached "
                          f"{thresholds.cusum_h:g}, so this is an alert, not yet a retrain.")
    if prior_shift:
        moved = _rate_move(inputs.spam_rate, inputs.reference_spam_rate)
        if thresholds.prior_shift_action == "retrain":
            triggers.append("spam_rate")
            reasons.append(f"The predicted spam rate{moved}, beyond what unchanged traffic "
                           "of this size produces (prior shift), and the rules say to retrain "
                           "on it.")
        else:
            alerts.append(f"The predicted spam rate{moved}, beyond what unchanged traffic of "
                          "this size produces (prior shift); a spam-rate shift alone is an "
                          "alert: it retrains only with an accuracy breach.")
    accuracy_kind = "estimated" if inputs.accuracy_is_estimate else "measured"
    label_note = ("from calibrated probabilities" if inputs.accuracy_is_estimate
                  else f"on {inputs.n_labels} labelled messages")
    accuracy = None if inputs.accuracy is None else round(inputs.accuracy, _DECIMALS)
    unknown = inputs.accuracy_is_estimate and inputs.accuracy_unreliable
    if accuracy is not None and accuracy < thresholds.accuracy_floor:
        triggers.append("accuracy")
        reasons.append(f"The {accuracy_kind} accuracy {_pct(accuracy)} ({label_note}) is "
                       f"below the {_pct(thresholds.accuracy_floor)} floor.")
    fired, sentence = label_trigger(inputs.class_shift, thresholds.significance)
    if fired:
        triggers.append("labels")
        reasons.append(sentence)
    elif settled(inputs.class_shift, thresholds.significance):
        alerts.append(sentence)  # say why a known shortfall no longer retrains
    since = inputs.hours_since_retrain
    if triggers and since is not None and since < thresholds.retrain_cooldown_hours:
        # Retraining again within hours learns from almost the same labels: wait for more.
        reasons.append(f"The last retrain started {since:.1f} h ago, within the "
                       f"{thresholds.retrain_cooldown_hours:g} h cooldown, so no new retrain "
                       "yet.")
        return CheckDecision(NO_ACTION, tuple(triggers), tuple(reasons + alerts))
    if triggers:
        return CheckDecision(RETRAIN, tuple(triggers), tuple(reasons + alerts))
    parts = []
    if inputs.drift_score is not None:
        if not above:
            parts.append(f"drift score {inputs.drift_score:.3f} is within the "
                         f"{thresholds.drift:.2f} threshold")
    else:
        parts.append("drift could not be measured")
    if inputs.accuracy is not None and unknown:
        parts.append(f"accuracy is unknown under drift until labels arrive (the label-free "
                     f"CBPE estimate {_pct(inputs.accuracy)} is unreliable)")
    elif inputs.accuracy is not None:
        parts.append(f"{accuracy_kind} accuracy {_pct(inputs.accuracy)} meets the "
                     f"{_pct(thresholds.accuracy_floor)} floor")
    else:
        parts.append("accuracy is unknown")
    sentence = " and ".join(parts)
    return CheckDecision(NO_ACTION, (), (*alerts, sentence[0].upper() + sentence[1:] + "."))


def _cusum(value: float | None) -> str:
    return "S n/a" if value is None else f"S = {value:.2f}"


def _rate_move(rate: float | None, reference: float | None) -> str:
    if rate is None:
        return " moved"
    if reference is None:
        return f" moved to {_pct(rate)}"
    return f" moved from {_pct(reference)} to {_pct(rate)}"
