"""What a check or a retrain returns, and how its thresholds and outcomes are written down.

Owns ``CheckResult``, ``RetrainResult``, ``DeploymentOutcome``, ``rule_thresholds`` (the
settings as ``rules.RuleThresholds``) and the small formatters the records use. It must not
decide anything (that is ``engine.rules``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.baseline import MIN_RECENT
from engine.comparison import Comparison
from engine.config import Settings
from engine.monitoring.accuracy import AccuracyReading
from engine.records import Decision, DriftSnapshot, RetrainingEvent
from engine.rules import (
    RuleThresholds,
)

if TYPE_CHECKING:
    from engine.drift import DriftReport


@dataclass(frozen=True)
class DeploymentOutcome:
    """What happened to a challenger."""

    decision: str
    """``DEPLOY``, ``KEEP`` or ``PENDING_APPROVAL``."""
    challenger_version: int | None
    champion_version: int | None
    """The champion the challenger was compared with."""
    improvement: float | None
    reasons: tuple[str, ...]
    comparison: Comparison | None
    approval_id: str | None = None


@dataclass(frozen=True)
class RetrainResult:
    """A finished retraining."""

    event: RetrainingEvent
    deployment: DeploymentOutcome


@dataclass(frozen=True)
class CheckResult:
    """A finished monitoring check."""

    decision: Decision
    snapshot: DriftSnapshot | None
    report: DriftReport | None
    accuracy: AccuracyReading
    retrain: RetrainResult | None
    retrain_error: str | None = None


def rule_thresholds(settings: Settings) -> RuleThresholds:
    """The rule thresholds in force for ``settings``."""
    t, m = settings.thresholds, settings.monitoring
    return RuleThresholds(drift=t.drift, accuracy_floor=t.accuracy_floor,
                          min_improvement=t.min_improvement, max_regression=t.max_regression,
                          significance=t.significance, max_fpr_increase=t.max_fpr_increase,
                          min_window=m.min_window, min_labels=m.min_labels,
                          approval_policy=m.approval_policy,
                          retrain_cooldown_hours=m.retrain_cooldown_hours,
                          prior_shift_action=t.prior_shift_action,
                          min_new_labels=math.ceil(MIN_RECENT / m.holdout_fraction))


def thresholds_dict(t: RuleThresholds) -> dict[str, Any]:
    """The thresholds as recorded with a decision or deployment (JSON-ready)."""
    return {"drift": t.drift, "accuracy_floor": t.accuracy_floor,
            "min_improvement": t.min_improvement, "max_regression": t.max_regression,
            "significance": t.significance, "max_fpr_increase": t.max_fpr_increase,
            "min_window": t.min_window, "min_labels": t.min_labels,
            "approval_policy": t.approval_policy,
            "retrain_cooldown_hours": t.retrain_cooldown_hours,
            "prior_shift_action": t.prior_shift_action, "cusum_h": t.cusum_h,
            "min_new_labels": t.min_new_labels}
