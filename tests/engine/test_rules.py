"""Decision table for the monitoring and deployment rules: every row must decide correctly."""

from __future__ import annotations

import pytest

from engine.rules import (
    DEPLOY,
    KEEP,
    NO_ACTION,
    PENDING_APPROVAL,
    RETRAIN,
    CheckInputs,
    EvaluationSummary,
    RuleThresholds,
    decide_check,
    decide_deployment,
)

T = RuleThresholds()  # drift 0.15, accuracy floor 0.93, min improvement 0.01, min window 200


def check(window: int = 500, drift: float | None = 0.05, accuracy: float | None = 0.98,
          estimate: bool = False, labels: int = 100) -> CheckInputs:
    return CheckInputs(window, drift, accuracy, estimate, labels)


CHECK_TABLE = [
    ("clean window", check(), NO_ACTION, ()),
    ("drift just above threshold", check(drift=0.1501), RETRAIN, ("drift",)),
    ("drift exactly at threshold", check(drift=0.15), NO_ACTION, ()),
    ("drift just below threshold", check(drift=0.1499), NO_ACTION, ()),
    ("accuracy just below floor", check(accuracy=0.9299), RETRAIN, ("accuracy",)),
    ("accuracy exactly at floor", check(accuracy=0.93), NO_ACTION, ()),
    ("accuracy just above floor", check(accuracy=0.9301), NO_ACTION, ()),
    ("both rules fire", check(drift=0.4, accuracy=0.8), RETRAIN, ("drift", "accuracy")),
    ("labels missing, estimate fine", check(accuracy=0.97, estimate=True, labels=0),
     NO_ACTION, ()),
    ("labels missing, estimate low", check(accuracy=0.90, estimate=True, labels=3),
     RETRAIN, ("accuracy",)),
    ("labels missing, no estimate, drift", check(drift=0.3, accuracy=None, labels=0),
     RETRAIN, ("drift",)),
    ("nothing measurable", check(drift=None, accuracy=None, labels=0), NO_ACTION, ()),
    ("window too small despite drift", check(window=199, drift=0.9, accuracy=0.5),
     NO_ACTION, ()),
    ("window exactly at minimum", check(window=200, drift=0.2), RETRAIN, ("drift",)),
    ("empty window", check(window=0, drift=None, accuracy=None), NO_ACTION, ()),
]


@pytest.mark.parametrize(("name", "inputs", "decision", "triggers"), CHECK_TABLE,
                         ids=[row[0] for row in CHECK_TABLE])
def test_check_decision_table(name: str, inputs: CheckInputs, decision: str,
                              triggers: tuple[str, ...]) -> None:
    sut = decide_check(inputs, T)
    assert sut.decision == decision
    assert sut.triggers == triggers
    assert sut.reasons and all(r.endswith(".") for r in sut.reasons)


def test_small_window_reason_says_why() -> None:
    sut = decide_check(check(window=12), T)
    assert "below the minimum of 200" in sut.reasons[0]


def test_reasons_name_numbers_and_thresholds() -> None:
    sut = decide_check(check(drift=0.23, accuracy=0.91, estimate=True), T)
    assert "0.230" in sut.reasons[0] and "0.15" in sut.reasons[0]
    assert "estimated accuracy 91.0%" in sut.reasons[1] and "93.0%" in sut.reasons[1]


def ev(name: str = "test_split", n: int = 1000, champion: float = 0.95,
       challenger: float = 0.97, f1: tuple[float, float] = (0.92, 0.92)) -> EvaluationSummary:
    return EvaluationSummary(name, n, champion, challenger, f1[0], f1[1])


MANUAL = RuleThresholds(approval_policy="manual")

DEPLOY_TABLE = [
    ("clear improvement on test split", ev(), None, T, DEPLOY),
    ("improvement exactly at margin", ev(champion=0.95, challenger=0.96), None, T, KEEP),
    ("improvement just above margin", ev(champion=0.95, challenger=0.9601), None, T, DEPLOY),
    ("improvement just below margin", ev(champion=0.95, challenger=0.9599), None, T, KEEP),
    ("challenger worse", ev(champion=0.97, challenger=0.95), None, T, KEEP),
    ("equal models", ev(champion=0.97, challenger=0.97), None, T, KEEP),
    ("recent feedback decides", ev(champion=0.98, challenger=0.98),
     ev("recent_feedback", 200, 0.85, 0.95), T, DEPLOY),
    ("recent feedback too small, test split decides", ev(champion=0.98, challenger=0.98),
     ev("recent_feedback", 29, 0.5, 1.0), T, KEEP),
    ("recent gain but test accuracy regresses", ev(champion=0.98, challenger=0.95),
     ev("recent_feedback", 200, 0.85, 0.95), T, KEEP),
    ("recent gain, regression within tolerance", ev(champion=0.98, challenger=0.975),
     ev("recent_feedback", 200, 0.85, 0.95), T, DEPLOY),
    ("recent gain but spam F1 regresses", ev(f1=(0.95, 0.93)),
     ev("recent_feedback", 200, 0.85, 0.95), T, KEEP),
    ("recent gain, F1 dip within tolerance", ev(f1=(0.95, 0.945)),
     ev("recent_feedback", 200, 0.85, 0.95), T, DEPLOY),
    ("manual policy, qualifying", ev(), None, MANUAL, PENDING_APPROVAL),
    ("manual policy, not qualifying", ev(champion=0.97, challenger=0.97), None, MANUAL, KEEP),
    ("custom larger margin", ev(champion=0.95, challenger=0.97), None,
     RuleThresholds(min_improvement=0.03), KEEP),
]


@pytest.mark.parametrize(("name", "test_split", "recent", "thresholds", "decision"),
                         DEPLOY_TABLE, ids=[row[0] for row in DEPLOY_TABLE])
def test_deployment_decision_table(name: str, test_split: EvaluationSummary,
                                   recent: EvaluationSummary | None,
                                   thresholds: RuleThresholds, decision: str) -> None:
    sut = decide_deployment(test_split, recent, thresholds)
    assert sut.decision == decision
    assert sut.reasons


def test_training_failure_keeps_the_champion() -> None:
    sut = decide_deployment(None, None, T, training_error="only ham in the data")
    assert sut.decision == KEEP
    assert sut.improvement is None
    assert "only ham in the data" in sut.reasons[0]


def test_keep_reason_reports_the_improvement_against_the_margin() -> None:
    sut = decide_deployment(ev(champion=0.950, challenger=0.959), None, T)
    assert sut.decision == KEEP
    assert sut.improvement == pytest.approx(0.009)
    assert "+0.9 points" in sut.reasons[0] and "1.0" in sut.reasons[0]


COOLDOWN_TABLE = [
    ("drift within cooldown waits", check(drift=0.4), 2.0, NO_ACTION),
    ("drift just after cooldown retrains", check(drift=0.4), 12.0, RETRAIN),
    ("accuracy within cooldown waits", check(accuracy=0.8), 11.9, NO_ACTION),
    ("never retrained retrains", check(drift=0.4), None, RETRAIN),
    ("clean window within cooldown", check(), 1.0, NO_ACTION),
]


@pytest.mark.parametrize(("name", "inputs", "hours", "decision"), COOLDOWN_TABLE,
                         ids=[row[0] for row in COOLDOWN_TABLE])
def test_cooldown_decision_table(name: str, inputs: CheckInputs, hours: float | None,
                                 decision: str) -> None:
    from dataclasses import replace

    sut = decide_check(replace(inputs, hours_since_retrain=hours), T)
    assert sut.decision == decision


def test_cooldown_reason_keeps_the_rule_that_fired() -> None:
    from dataclasses import replace

    sut = decide_check(replace(check(drift=0.3), hours_since_retrain=3.0), T)
    assert sut.triggers == ("drift",)
    assert "0.300" in sut.reasons[0]
    assert "3.0 h ago" in sut.reasons[1] and "12 h cooldown" in sut.reasons[1]


# Issue 13: the sequential test, prior shift and unreliable estimates ------------------------
def drifted(**fields: object) -> CheckInputs:
    base = CheckInputs(500, 0.4, 0.98, False, 100, drift_components=("vocabulary", "tfidf"))
    return CheckInputs(**{**base.__dict__, **fields})  # type: ignore[arg-type]


def test_drift_the_cusum_has_not_confirmed_is_an_alert_not_a_retrain() -> None:
    sut = decide_check(drifted(drift_confirmed=False, cusum=1.2), T)
    assert sut.decision == NO_ACTION and sut.triggers == ()
    assert "alert, not yet a retrain" in sut.reasons[0] and "S = 1.20" in sut.reasons[0]


def test_drift_the_cusum_confirmed_retrains_and_says_so() -> None:
    sut = decide_check(drifted(drift_confirmed=True, cusum=4.5), T)
    assert sut.decision == RETRAIN and sut.triggers == ("drift",)
    assert "confirmed across windows by the CUSUM (S = 4.50 > 3)" in sut.reasons[0]


def test_a_spam_rate_only_shift_alerts_by_default_and_names_the_rates() -> None:
    sut = decide_check(drifted(drift_components=("spam_rate",), drift_confirmed=False,
                               spam_rate=0.4, reference_spam_rate=0.13), T)
    assert sut.decision == NO_ACTION and sut.triggers == ()
    assert "moved from 13.0% to 40.0%" in sut.reasons[0] and "prior shift" in sut.reasons[0]
    assert "retrains only with an accuracy breach" in sut.reasons[0]


def test_a_spam_rate_shift_with_an_accuracy_breach_retrains_on_accuracy() -> None:
    sut = decide_check(drifted(drift_components=("spam_rate",), accuracy=0.9,
                               drift_confirmed=False), T)
    assert sut.decision == RETRAIN and sut.triggers == ("accuracy",)
    assert any("prior shift" in r for r in sut.reasons)


def test_the_rules_can_make_a_spam_rate_shift_retrain() -> None:
    sut = decide_check(drifted(drift_components=("spam_rate",), drift_confirmed=False),
                       RuleThresholds(prior_shift_action="retrain"))
    assert sut.decision == RETRAIN and sut.triggers == ("spam_rate",)


def test_an_unreliable_estimate_is_never_why_accuracy_is_fine() -> None:
    sut = decide_check(drifted(drift_confirmed=False, accuracy=0.97,
                               accuracy_is_estimate=True, n_labels=0,
                               accuracy_unreliable=True), T)
    assert sut.decision == NO_ACTION
    assert not any("meets the" in r for r in sut.reasons)
    assert "ccuracy is unknown under drift until labels arrive" in sut.reasons[-1]
    assert "CBPE estimate 97.0% is unreliable" in sut.reasons[-1]
    # A measured accuracy is never "unreliable": labels are the ground truth.
    measured = decide_check(drifted(drift_score=0.05, drift_components=(),
                                    accuracy_unreliable=True), T)
    assert "measured accuracy 98.0% meets" in measured.reasons[0]


def test_confirmed_drift_waits_for_labels_of_the_new_traffic() -> None:
    thresholds = RuleThresholds(min_new_labels=100)
    sut = decide_check(drifted(drift_confirmed=True, cusum=5.0, new_labels=12), thresholds)
    assert sut.decision == NO_ACTION and sut.triggers == ()
    assert "only 12 labels arrived since the last retrain" in sut.reasons[0]
    ready = decide_check(drifted(drift_confirmed=True, cusum=5.0, new_labels=100), thresholds)
    assert ready.decision == RETRAIN and ready.triggers == ("drift",)
