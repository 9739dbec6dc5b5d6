"""The records the store persists and the engine passes around.

Plain frozen dataclasses, shared by ``engine.store`` (which persists them), ``monitoring.py`` and
``services.py`` (which produce them) and the UIs (which present them). All timestamps are naive
UTC. JSON-ish fields (dicts, tuples of dicts) are stored as JSON text in DuckDB. This module
imports nothing heavy and holds no logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class PredictionRecord:
    """One scored message, as logged by the API, the CLI or the simulator."""

    id: str
    ts: datetime
    text: str
    model_version: int
    label: str
    """Predicted label: ``ham`` or ``spam``."""
    spam_probability: float
    latency_ms: float
    source: str
    """Who asked: ``api``, ``cli``, ``simulate``, ``demo``."""


@dataclass(frozen=True)
class FeedbackRecord:
    """A true label that arrived after the prediction; the latest one per prediction wins."""

    prediction_id: str
    ts: datetime
    label: str
    source: str


@dataclass(frozen=True)
class PatternCount:
    """A term that explains drift: frequent in the window, rare or absent in the reference."""

    term: str
    count: int
    """Occurrences in the window (documents containing the term)."""
    window_rate: float
    """Share of window messages containing the term."""
    reference_rate: float
    """Share of reference messages containing the term (0 when never seen)."""


@dataclass(frozen=True)
class DriftSnapshot:
    """A saved drift report for one window of traffic."""

    id: str
    ts: datetime
    model_version: int | None
    n: int
    window_start: datetime | None
    window_end: datetime | None
    vocabulary_drift: float
    tfidf_drift: float
    prediction_drift: float | None
    prediction_p_value: float | None
    drift_score: float
    p_value: float
    threshold: float
    drift_detected: bool
    new_patterns: tuple[PatternCount, ...]
    recommendation: str
    spam_rate: float | None = None
    """Predicted spam rate in the window."""
    source: str = "monitor"


@dataclass(frozen=True)
class Decision:
    """One monitoring decision with the numbers and thresholds it saw."""

    id: str
    ts: datetime
    trigger: str
    """``schedule``, ``drift``, ``accuracy``, ``operator``, ``api``, ``demo``."""
    decision: str
    """``RETRAIN``, ``NO_ACTION`` or ``INSUFFICIENT_DATA`` (window below the minimum)."""
    reasons: tuple[str, ...]
    window_size: int
    accuracy: float | None
    accuracy_is_estimate: bool
    accuracy_low: float | None
    accuracy_high: float | None
    n_labels: int
    drift_score: float | None
    thresholds: dict[str, Any]
    champion_version: int | None
    snapshot_id: str | None
    retraining_id: str | None = None
    outcome: str = ""
    """What followed: ``no action``, ``deployed v3``, ``kept v2``, ``pending approval``..."""
    actor: str = "scheduler"


@dataclass(frozen=True)
class RetrainingEvent:
    """One retraining: from start to the deployment decision."""

    id: str
    started_at: datetime
    trigger: str
    status: str
    """``running``, ``completed``, ``failed``, ``interrupted``."""
    champion_version: int | None
    finished_at: datetime | None = None
    challenger_version: int | None = None
    deployment: str | None = None
    """``DEPLOY``, ``KEEP``, ``PENDING_APPROVAL``, then ``APPROVED``/``REJECTED``."""
    improvement: float | None = None
    reasoning: str = ""
    comparison: dict[str, Any] | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    decision_id: str | None = None
    pid: int | None = None
    """OS process running it, to detect retrains interrupted by a crash."""
    actor: str = "scheduler"


@dataclass(frozen=True)
class Approval:
    """A qualifying challenger waiting for (or decided by) an operator."""

    id: str
    created_at: datetime
    retraining_id: str
    challenger_version: int
    champion_version: int | None
    status: str
    """``pending``, ``approved``, ``rejected``."""
    comparison: dict[str, Any] = field(default_factory=dict)
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class JobRun:
    """One run of a scheduled job."""

    id: str
    job: str
    scheduled_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    """``ok``, ``failed``, ``skipped``, ``running``."""
    detail: str = ""
    holder: str = ""
    """Process that ran it (``host:pid``)."""


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the hash-chained audit trail."""

    seq: int
    ts: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    """Inputs, thresholds, versions: whatever the action saw."""
    reasoning: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    """The result of checking the audit chain."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    message: str


@dataclass(frozen=True)
class QueryResult:
    """The rows of an analyst query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class DailyTraffic:
    """Predictions logged on one UTC day (``v_daily_traffic``)."""

    day: date
    predictions: int
    spam_predicted: int
    spam_rate: float


@dataclass(frozen=True)
class DailyAccuracy:
    """Accuracy on one UTC day: measured from feedback, and estimated by monitoring checks."""

    day: date
    labelled: int
    """Predictions made that day that have a true label (the latest label counts)."""
    correct: int
    measured: float | None
    """``correct / labelled`` (``v_daily_accuracy``); None when nothing of that day is labelled."""
    estimated: float | None
    """Mean accuracy estimated (from calibrated probabilities) by the checks run that day."""
    checks: int
    """Monitoring checks that estimated accuracy that day."""


@dataclass(frozen=True)
class AliasMoveRecord:
    """A change of champion as recorded before, during and after it (``alias_moves``)."""

    id: str
    created_at: datetime
    kind: str
    """``adopt``, ``promote``, ``rollback``, ``deploy`` or ``approve``."""
    aliases_before: dict[str, int]
    """Alias -> version as read under the champion lock, when the move was decided."""
    aliases_after: dict[str, int]
    """Alias -> version intended."""
    status: str
    """``pending`` (in flight, or its process died), ``done``, ``recovered`` (finished by a
    later start) or ``undone`` (put back to ``aliases_before``)."""
    actor: str
    reasoning: str
    approval_id: str | None = None
    pid: int = 0
    finished_at: datetime | None = None


@dataclass(frozen=True)
class OutboxDelivery:
    """One webhook delivery in the outbox: an event for one receiver, until it is delivered.

    Bookkeeping times (``created_at``, attempts) are wall-clock naive UTC, since retries happen
    in real time; the event's own time is in ``payload``.
    """

    id: str
    event_id: str
    event_type: str
    receiver: str
    """The receiver's key (``Webhook.key``)."""
    created_at: datetime
    status: str
    """``pending`` (not yet delivered, maybe retrying), ``delivered`` or ``failed`` (gave up)."""
    attempts: int
    next_attempt_at: datetime
    payload: str
    """The event as JSON (``NotifyEvent.to_json``), rendered per receiver format at send time."""
    last_error: str = ""
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class ReceiverHealth:
    """Deliveries to one webhook receiver, summed up for ``notify status`` and the UIs."""

    receiver: str
    pending: int
    """Deliveries not yet made (including those being retried)."""
    retrying: int
    """Pending deliveries that have failed at least once."""
    failed: int
    """Deliveries given up on since the receiver's last successful delivery."""
    delivered: int
    last_error: str
    last_attempt_at: datetime | None
    last_delivered_at: datetime | None
    oldest_pending_at: datetime | None
    configured: bool = True
    """False when ``spamops.toml`` no longer lists this receiver (its rows wait)."""

    @property
    def failing(self) -> bool:
        """Retrying now, or its latest outcome was giving up."""
        return self.retrying > 0 or self.failed > 0
