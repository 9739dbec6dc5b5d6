"""The records the store persists and the engine passes around.

Plain frozen dataclasses, shared by ``engine.store`` (which persists them), ``engine.monitoring``
and ``engine.services`` (which produce them) and the UIs (which present them). All timestamps are
naive UTC. JSON-ish fields (dicts, tuples of dicts) are stored as JSON text in DuckDB. This
module imports nothing heavy and holds no logic.
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
    drift_components: tuple[str, ...] = ()
    """Components that exceed: ``vocabulary``, ``tfidf``, ``spam_rate`` (issue 13)."""
    spam_rate_drift: float | None = None
    """Calibrated score in [0, 1] of the spam-rate (prior) shift."""
    text_p_value: float | None = None
    """Calibrated p-value of the text statistics (what the CUSUM accumulates)."""
    cusum: float | None = None
    """The CUSUM statistic after this window (``engine.drift.sequential``)."""
    drift_confirmed: bool = False
    """The CUSUM confirmed text drift: a retrain may follow."""
    baseline_key: str = ""
    """The accepted-baseline state the window was scored against ("" : reference alone)."""
    accuracy_unreliable: bool = False
    """The check's label-free accuracy estimate is not to be trusted (drift, or labels
    contradict it)."""
    ingest_seq_from: int | None = None
    """First ingestion sequence number of the window (monitoring windows are cut by
    ingestion order, so every logged prediction is in exactly one window)."""
    ingest_seq_to: int | None = None
    """Last ingestion sequence number of the window (inclusive)."""


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
    accuracy_unreliable: bool = False
    """The accuracy is a label-free estimate that cannot be trusted (drift detected, or the
    labels that did arrive fall outside its interval)."""


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
    key_missing: bool = False
    """The chain has keyed records but the data home key file is gone: they cannot be
    checked (not "intact", not "broken") until it is restored."""


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
class BaselineWindow:
    """A window of traffic accepted into a champion's drift baseline (issue 13, item 3).

    A drift-triggered cycle that ended with DEPLOY, or with KEEP because the champion already
    does as well on the recent labels, accepts its window: later drift is measured against the
    reference plus the accepted windows, so the same traffic stops asking for retrains.
    """

    id: str
    champion_version: int
    window_start: datetime | None
    window_end: datetime
    n: int
    """Predictions in the window (the newest ``n`` of ``[window_start, window_end)``)."""
    accepted_at: datetime
    outcome: str
    """``DEPLOY`` or ``KEEP``."""
    reason: str
    snapshot_id: str | None = None
    retraining_id: str | None = None
    reset_at: datetime | None = None
    """When ``spamops baseline reset`` removed it (None while it counts)."""
    reset_by: str | None = None


@dataclass(frozen=True)
class LabelItem:
    """One label of a bulk import: for a prediction id, or for every prediction of a text."""

    line: str
    """Where it came from, for errors: ``line 4`` of a file, ``item 3`` of a request."""
    label: str
    """``ham`` or ``spam``."""
    prediction_id: str | None = None
    text: str | None = None
    """Matched to logged predictions by exact text when there is no ``prediction_id``."""


@dataclass(frozen=True)
class LabelImport:
    """What a bulk label import recorded (all of it, or nothing)."""

    received: int
    """Labels given."""
    matched_predictions: int
    """Predictions they resolved to (a text can match several)."""
    added: int
    """Feedback rows written."""
    unchanged: int
    """Labels equal to the prediction's current label (or repeated): not stored again."""
    conflicts: int
    """Labels that contradict the prediction's current label: stored, flagged, and now count."""


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
