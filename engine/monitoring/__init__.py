"""One monitoring cycle, retraining, comparison and conditional deployment.

Every trigger (the schedule, an operator, the API, the demo) runs the same ``Monitor.check``:

1. read the window of predictions since the last evaluated window (too few is a recorded
   ``INSUFFICIENT_DATA`` and the window keeps growing until it is big enough);
2. score drift against the champion's cached reference statistics and save the snapshot;
3. measure the champion's accuracy on the labels received in the window, or, with too few
   labels, estimate it from its calibrated probabilities (marked as an estimate, with a 95%
   interval);
4. decide with ``rules.decide_check``; on ``RETRAIN`` run ``Monitor.retrain``: train a
   challenger on the training split plus labelled feedback (the most recent share held out),
   compare both models on identical sets, and deploy, keep or wait for approval by
   ``rules.decide_deployment``.

Each step is recorded: the store (snapshot, decision, retraining event, approval), the audit
trail, and ``<home>/logs/monitor.log`` with timestamps from the engine clock. This module
decides nothing by itself (that is ``rules.py``) and opens no database (that is ``engine.store``).

One module per concern: ``log`` (``MonitorLog``), ``accuracy`` (measured, estimated and
blended readings), ``outcomes`` (the results and thresholds), ``base`` (the shared parts, the
check and retrain locks, crash recovery), ``check`` (the cycle), ``retrain`` (challenger,
comparison, deployment), ``approvals``; ``monitor`` composes them into ``Monitor``.
"""

from engine.monitoring.accuracy import (
    AccuracyReading,
    blend_accuracy,
    estimate_accuracy,
    measured_accuracy,
)
from engine.monitoring.base import RETRAIN_LOCK_WAIT_SECONDS
from engine.monitoring.log import LogListener, MonitorLog
from engine.monitoring.monitor import Monitor
from engine.monitoring.outcomes import (
    CheckResult,
    DeploymentOutcome,
    RetrainResult,
    rule_thresholds,
)

__all__ = [
    "RETRAIN_LOCK_WAIT_SECONDS",
    "AccuracyReading",
    "CheckResult",
    "DeploymentOutcome",
    "LogListener",
    "Monitor",
    "MonitorLog",
    "RetrainResult",
    "blend_accuracy",
    "estimate_accuracy",
    "measured_accuracy",
    "rule_thresholds",
]
