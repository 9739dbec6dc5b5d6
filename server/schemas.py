"""Request and response models of the REST API.

Requests end in ``Request``, forbid unknown fields and are strict (no ``"yes"`` for ``true``);
responses end in ``Public``; lists come in the ``{"data": [...], "count": n}`` envelope. The
``from_*`` constructors only copy fields from the engine's result types (``engine.records``,
``engine.monitoring``, ``engine.registry``): this module decides nothing and must not call
services.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

if TYPE_CHECKING:
    from engine.drift import DriftReport
    from engine.monitoring import CheckResult, RetrainResult
    from engine.records import Approval, DriftSnapshot, FeedbackRecord, RetrainingEvent
    from engine.registry import AliasMove, ModelVersionInfo
    from engine.scheduling import HolderInfo
    from engine.services import Health, Prediction

MAX_TEXT_CHARS = 5000
"""Longest message accepted (the engine refuses longer ones too)."""
MAX_BATCH = 1000
"""Most messages in one ``POST /predict/batch``."""
MAX_DRIFT_WINDOW = 20000
"""Most messages in one ``POST /metrics/drift`` window (the monitor's ``max_window``)."""



def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_as_utc)]
"""Engine timestamps are naive UTC; the API says so (``...+00:00``, RFC 3339)."""

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
Label = Literal["ham", "spam"]


class _Request(BaseModel):
    """Every request body: unknown fields refused, and strict types. JSON has booleans and
    numbers of its own, so ``"yes"``, ``"1"`` or ``1`` is not a ``true`` and ``"200"``,
    ``200.5`` or ``true`` is not an integer (pydantic's lax mode would coerce them, and
    ``{"retrain": "yes"}`` would retrain). FastAPI validates the parsed JSON, where strict mode
    changes nothing a JSON client can send correctly: no request field is a date or enum that
    JSON can only carry as a string."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Predictions and feedback ------------------------------------------------------------------
class PredictRequest(_Request):
    """One message to classify."""

    text: Text = Field(description="The SMS text: not blank, at most 5,000 characters.",
                       examples=["WINNER!! Claim your free prize now: call 09061701461"])


class PredictBatchRequest(_Request):
    """Up to 1,000 messages to classify in one call."""

    texts: list[Text] = Field(min_length=1, max_length=MAX_BATCH)


class PredictionPublic(_Public):
    """One scored message; ``prediction_id`` is what ``POST /feedback`` refers to."""

    prediction_id: str
    label: Label
    spam_probability: float
    model_version: int

    @classmethod
    def from_prediction(cls, p: Prediction) -> PredictionPublic:
        return cls(prediction_id=p.id, label=p.label,
                   spam_probability=round(p.spam_probability, 6),
                   model_version=p.model_version)


class PredictionsPublic(_Public):
    data: list[PredictionPublic]
    count: int


class FeedbackRequest(_Request):
    """The true label of an earlier prediction."""

    prediction_id: str = Field(min_length=1, max_length=64)
    label: Label


class FeedbackPublic(_Public):
    prediction_id: str
    label: Label
    received_at: Timestamp

    @classmethod
    def from_record(cls, r: FeedbackRecord) -> FeedbackPublic:
        return cls(prediction_id=r.prediction_id, label=r.label,
                   received_at=r.ts)


class LabelPublicItem(_Request):
    """One label of ``POST /feedback/batch``: for a prediction id, or for a text (matched
    exactly to every logged prediction of that text). Give exactly one of the two."""

    prediction_id: str | None = Field(None, min_length=1, max_length=64)
    text: Text | None = None
    label: Label

    @model_validator(mode="after")
    def _one_key(self) -> LabelPublicItem:
        if (self.prediction_id is None) == (self.text is None):
            raise ValueError("give exactly one of prediction_id and text")
        return self


class FeedbackBatchRequest(_Request):
    """Up to 1,000 true labels, recorded all or nothing."""

    labels: list[LabelPublicItem] = Field(min_length=1, max_length=MAX_BATCH)


class FeedbackBatchPublic(_Public):
    """What a batch recorded: repeats of a known label are not stored again; a label that
    contradicts an earlier one is stored, flagged, and counts."""

    received: int
    matched_predictions: int
    added: int
    unchanged: int
    conflicts: int


# Health ------------------------------------------------------------------------------------
class SchedulerHolderPublic(_Public):
    host: str
    pid: int
    kind: str
    since: Timestamp

    @classmethod
    def from_holder(cls, h: HolderInfo | None) -> SchedulerHolderPublic | None:
        if h is None:
            return None
        return cls(host=h.host, pid=h.pid, kind=h.kind, since=h.since)


class HealthPublic(_Public):
    """``ok``: a champion is loaded and the store answers; ``degraded``: one of them not."""

    status: Literal["ok", "degraded"]
    model_version: int | None
    store_reachable: bool
    problems: list[str]
    spool_rejected_segments: int
    """Files of spool rows the store refused, waiting in ``<home>/spool/rejected/`` for an
    operator (``spamops store reingest FILE``); they do not make the status degraded."""
    scheduler_holder: SchedulerHolderPublic | None
    uptime_seconds: float
    version: str

    @classmethod
    def from_health(cls, h: Health, *, uptime_seconds: float, version: str) -> HealthPublic:
        return cls(status="ok" if not h.problems else "degraded",
                   model_version=h.model_version, store_reachable=h.store_reachable,
                   problems=list(h.problems),
                   spool_rejected_segments=h.spool_rejected_segments,
                   scheduler_holder=SchedulerHolderPublic.from_holder(h.scheduler_holder),
                   uptime_seconds=round(uptime_seconds, 3), version=version)


# Drift -------------------------------------------------------------------------------------
class PatternPublic(_Public):
    term: str
    count: int
    window_rate: float
    reference_rate: float


class DriftSnapshotPublic(_Public):
    """One saved drift report (scores are calibrated: ``threshold`` means the same at any n)."""

    id: str
    timestamp: Timestamp
    model_version: int | None
    n: int
    window_start: Timestamp | None
    window_end: Timestamp | None
    vocabulary_drift: float
    tfidf_drift: float
    prediction_drift: float | None
    prediction_p_value: float | None
    drift_score: float
    p_value: float
    threshold: float
    drift_detected: bool
    new_patterns: list[PatternPublic]
    recommendation: str
    spam_rate: float | None
    source: str
    drift_components: list[str] = []
    """Components that exceed: ``vocabulary``, ``tfidf``, ``spam_rate`` (prior shift)."""
    spam_rate_drift: float | None = None
    """Calibrated score of the spam-rate shift."""
    cusum: float | None = None
    """The CUSUM over windows after this one; ``drift_confirmed`` when above its interval."""
    drift_confirmed: bool = False
    accuracy_unreliable: bool = False
    """The check's label-free (CBPE) accuracy estimate is unreliable (drift detected)."""

    @classmethod
    def from_snapshot(cls, s: DriftSnapshot) -> DriftSnapshotPublic:
        return cls(
            id=s.id, timestamp=s.ts, model_version=s.model_version, n=s.n,
            window_start=s.window_start, window_end=s.window_end,
            vocabulary_drift=s.vocabulary_drift, tfidf_drift=s.tfidf_drift,
            prediction_drift=s.prediction_drift, prediction_p_value=s.prediction_p_value,
            drift_score=s.drift_score, p_value=s.p_value, threshold=s.threshold,
            drift_detected=s.drift_detected,
            new_patterns=[PatternPublic(term=p.term, count=p.count, window_rate=p.window_rate,
                                        reference_rate=p.reference_rate)
                          for p in s.new_patterns],
            recommendation=s.recommendation, spam_rate=s.spam_rate, source=s.source,
            drift_components=list(s.drift_components), spam_rate_drift=s.spam_rate_drift,
            cusum=s.cusum, drift_confirmed=s.drift_confirmed,
            accuracy_unreliable=s.accuracy_unreliable)


class DriftSnapshotsPublic(_Public):
    data: list[DriftSnapshotPublic]
    count: int


class DriftWindowRequest(_Request):
    """A window of messages to score against the champion's training data (nothing saved)."""

    texts: list[Text] = Field(min_length=1, max_length=MAX_DRIFT_WINDOW)
    min_window: int | None = Field(None, ge=1)
    """Fewest messages to judge (default ``monitoring.min_window``); fewer is
    ``INSUFFICIENT_DATA``."""


class DriftReportPublic(_Public):
    """The drift of one posted window; ``recommendation`` is ``RETRAIN``, ``NO_ACTION`` or
    ``INSUFFICIENT_DATA`` (a window below the minimum, with ``reason``)."""

    timestamp: Timestamp
    model_version: int | None
    n: int
    reference_size: int
    vocabulary_drift: float
    tfidf_drift: float
    prediction_drift: float | None
    prediction_p_value: float | None
    spam_rate: float | None
    reference_spam_rate: float | None
    drift_score: float
    p_value: float
    threshold: float
    drift_detected: bool
    new_patterns: list[PatternPublic]
    recommendation: Literal["RETRAIN", "NO_ACTION", "INSUFFICIENT_DATA"]
    reason: str | None

    @classmethod
    def from_report(cls, r: DriftReport) -> DriftReportPublic:
        return cls(
            timestamp=r.timestamp, model_version=r.model_version, n=r.n,
            reference_size=r.reference_size, vocabulary_drift=r.vocabulary_drift,
            tfidf_drift=r.tfidf_drift, prediction_drift=r.prediction_drift,
            prediction_p_value=r.prediction_p_value, spam_rate=r.spam_rate,
            reference_spam_rate=r.reference_spam_rate, drift_score=r.drift_score,
            p_value=r.p_value, threshold=r.threshold, drift_detected=r.drift_detected,
            new_patterns=[PatternPublic(term=p.term, count=p.count, window_rate=p.window_rate,
                                        reference_rate=p.reference_rate)
                          for p in r.new_patterns],
            recommendation=r.recommendation, reason=r.reason)


# Models ------------------------------------------------------------------------------------
class ModelVersionPublic(_Public):
    version: int
    aliases: list[str]
    created_at: Timestamp
    run_id: str
    metrics: dict[str, float]
    """Test-split metrics at training time."""
    lineage: dict[str, str]

    @classmethod
    def from_info(cls, v: ModelVersionInfo) -> ModelVersionPublic:
        return cls(version=v.version, aliases=list(v.aliases), created_at=v.created_at,
                   run_id=v.run_id, metrics=dict(v.metrics), lineage=dict(v.tags))


class ModelVersionsPublic(_Public):
    data: list[ModelVersionPublic]
    count: int


class ComparedModelPublic(_Public):
    version: int | None
    accuracy: float | None
    f1_score: float | None
    precision: float | None
    recall: float | None
    roc_auc: float | None

    @classmethod
    def from_score(cls, score: dict[str, Any]) -> ComparedModelPublic:
        m = score.get("metrics") or {}
        return cls(version=score.get("version"), accuracy=m.get("accuracy"),
                   f1_score=m.get("f1"), precision=m.get("precision"),
                   recall=m.get("recall"), roc_auc=m.get("roc_auc"))


class EvaluationSetPublic(_Public):
    """One evaluation set of a comparison: what it is, how big, from when, and its numbers.

    ``role``: ``decides`` (the accuracy gain is measured here), ``guard`` (non-inferiority
    only) or null for records older than the gate of issue 13. Dates are when the set's labels
    were given (null for the frozen test split). Differences are challenger minus champion,
    with the 95% Bonett-Price interval the gate judged by.
    """

    name: str
    role: Literal["decides", "guard"] | None
    n: int
    first_at: str | None
    last_at: str | None
    champion_accuracy: float | None
    challenger_accuracy: float | None
    accuracy_difference: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    mcnemar_p_value: float | None
    n_ham: int | None
    champion_ham_fpr: float | None
    challenger_ham_fpr: float | None
    ham_fpr_low: float | None
    ham_fpr_high: float | None

    @classmethod
    def from_set(cls, s: dict[str, Any], decided_on: str | None) -> EvaluationSetPublic:
        def accuracy(role: str) -> float | None:
            value = ((s.get(role) or {}).get("metrics") or {}).get("accuracy")
            return None if value is None else float(value)

        role: Literal["decides", "guard"] | None = None
        if decided_on is not None:
            role = "decides" if s.get("name") == decided_on else "guard"
        return cls(name=str(s.get("name", "?")), role=role, n=int(s.get("n", 0)),
                   first_at=s.get("first_at"), last_at=s.get("last_at"),
                   champion_accuracy=accuracy("champion"),
                   challenger_accuracy=accuracy("challenger"),
                   accuracy_difference=s.get("accuracy_difference"),
                   accuracy_low=s.get("accuracy_low"), accuracy_high=s.get("accuracy_high"),
                   mcnemar_p_value=s.get("mcnemar_p_value"), n_ham=s.get("n_ham"),
                   champion_ham_fpr=s.get("champion_ham_fpr"),
                   challenger_ham_fpr=s.get("challenger_ham_fpr"),
                   ham_fpr_low=s.get("ham_fpr_low"), ham_fpr_high=s.get("ham_fpr_high"))


class ModelComparisonPublic(_Public):
    """The latest champion/challenger comparison.

    ``current_model`` is the newest model (the challenger) and ``previous_model`` the champion
    it was measured against, both on the set the deployment rule used (``evaluated_on``:
    held-out recent labels when there were enough, else the persisted test split), where
    ``improvement`` (current minus previous accuracy) and ``mcnemar_p_value`` were measured.
    ``decision`` says what happened to the challenger, ``reasoning`` why. ``evaluation_sets``
    lists every set with its size, dates and role; ``sets`` has their full numbers.
    """

    retraining_id: str
    timestamp: Timestamp
    current_model: ComparedModelPublic
    previous_model: ComparedModelPublic
    evaluated_on: str
    improvement: float | None
    mcnemar_p_value: float | None
    bootstrap_low: float | None
    bootstrap_high: float | None
    decision: str | None
    reasoning: str
    evaluation_sets: list[EvaluationSetPublic]
    sets: list[dict[str, Any]]

    @classmethod
    def from_event(cls, e: RetrainingEvent) -> ModelComparisonPublic:
        comparison = e.comparison or {}
        sets: list[dict[str, Any]] = list(comparison.get("sets") or [])
        decided_on = comparison.get("decided_on")
        # Show the set the deployment decision measured ``improvement`` on; older records do
        # not name it, so match the (rounded) improvement; the test split when none matches.
        decided = [s for s in sets if s.get("name") == decided_on] or [
            s for s in sets if e.improvement is not None
            and abs(float(s.get("accuracy_difference", 0.0)) - e.improvement) < 1e-6]
        shown = next(iter(sorted(decided, key=lambda s: s.get("name") != "recent_feedback")),
                     next((s for s in sets if s.get("name") == "test_split"),
                          sets[0] if sets else {}))
        return cls(
            retraining_id=e.id, timestamp=e.finished_at or e.started_at,
            current_model=ComparedModelPublic.from_score(
                shown.get("challenger") or {"version": comparison.get("challenger_version")}),
            previous_model=ComparedModelPublic.from_score(
                shown.get("champion") or {"version": comparison.get("champion_version")}),
            evaluated_on=str(shown.get("name", "none")), improvement=e.improvement,
            mcnemar_p_value=shown.get("mcnemar_p_value"),
            bootstrap_low=shown.get("bootstrap_low"), bootstrap_high=shown.get("bootstrap_high"),
            decision=e.deployment, reasoning=e.reasoning,
            evaluation_sets=[EvaluationSetPublic.from_set(s, decided_on) for s in sets],
            sets=sets)


class AliasMovePublic(_Public):
    champion: int
    previous: int | None
    demoted: int | None

    @classmethod
    def from_move(cls, m: AliasMove) -> AliasMovePublic:
        return cls(champion=m.champion, previous=m.previous, demoted=m.demoted)


# Retraining --------------------------------------------------------------------------------
class RetrainingEventPublic(_Public):
    """One retraining, from start to the deployment decision."""

    id: str
    trigger: str
    status: str
    decision: str | None
    """``DEPLOY``, ``KEEP``, ``PENDING_APPROVAL``, then ``APPROVED``/``REJECTED``."""
    reasoning: str
    champion_version: int | None
    challenger_version: int | None
    improvement: float | None
    metrics: dict[str, dict[str, float]]
    """Test-split metrics of ``champion`` and ``challenger`` (empty when not evaluated)."""
    comparison: dict[str, Any] | None
    started_at: Timestamp
    finished_at: Timestamp | None
    duration_seconds: float | None
    actor: str

    @classmethod
    def from_event(cls, e: RetrainingEvent) -> RetrainingEventPublic:
        sets = (e.comparison or {}).get("sets") or []
        test = next((s for s in sets if s.get("name") == "test_split"), None)
        metrics: dict[str, dict[str, float]] = {}
        if test is not None:
            for role in ("champion", "challenger"):
                metrics[role] = {k: float(v) for k, v in
                                 ((test.get(role) or {}).get("metrics") or {}).items()
                                 if isinstance(v, int | float)}
        duration = ((e.finished_at - e.started_at).total_seconds()
                    if e.finished_at is not None else None)
        return cls(id=e.id, trigger=e.trigger, status=e.status, decision=e.deployment,
                   reasoning=e.reasoning, champion_version=e.champion_version,
                   challenger_version=e.challenger_version, improvement=e.improvement,
                   metrics=metrics, comparison=e.comparison, started_at=e.started_at,
                   finished_at=e.finished_at, duration_seconds=duration, actor=e.actor)


class RetrainingEventsPublic(_Public):
    data: list[RetrainingEventPublic]
    count: int


# Control -----------------------------------------------------------------------------------
class CheckRequest(_Request):
    retrain: bool = True
    """Retrain when the rules say so (false: decide and record only)."""


class DeploymentPublic(_Public):
    retraining_id: str
    decision: str
    challenger_version: int | None
    champion_version: int | None
    improvement: float | None
    reasons: list[str]
    approval_id: str | None

    @classmethod
    def from_result(cls, r: RetrainResult) -> DeploymentPublic:
        d = r.deployment
        return cls(retraining_id=r.event.id, decision=d.decision,
                   challenger_version=d.challenger_version, champion_version=d.champion_version,
                   improvement=d.improvement, reasons=list(d.reasons), approval_id=d.approval_id)


class CheckPublic(_Public):
    """One monitoring decision with what followed it."""

    id: str
    timestamp: Timestamp
    trigger: str
    decision: Literal["RETRAIN", "NO_ACTION", "INSUFFICIENT_DATA"]
    reasons: list[str]
    outcome: str
    window_size: int
    accuracy: float | None
    accuracy_is_estimate: bool
    accuracy_unreliable: bool = False
    """A label-free estimate that drift (or the labels) made unreliable: accuracy unknown."""
    n_labels: int
    drift: DriftSnapshotPublic | None
    deployment: DeploymentPublic | None
    retrain_error: str | None
    actor: str

    @classmethod
    def from_result(cls, r: CheckResult) -> CheckPublic:
        d = r.decision
        return cls(
            id=d.id, timestamp=d.ts, trigger=d.trigger,
            decision=d.decision,
            reasons=list(d.reasons), outcome=d.outcome, window_size=d.window_size,
            accuracy=d.accuracy, accuracy_is_estimate=d.accuracy_is_estimate,
            accuracy_unreliable=d.accuracy_unreliable, n_labels=d.n_labels,
            drift=DriftSnapshotPublic.from_snapshot(r.snapshot) if r.snapshot else None,
            deployment=DeploymentPublic.from_result(r.retrain) if r.retrain else None,
            retrain_error=r.retrain_error, actor=d.actor)


class DecisionRequest(_Request):
    reason: str | None = Field(None, max_length=500)
    """Why (recorded in the audit trail); a default sentence when omitted."""


class ApprovalPublic(_Public):
    id: str
    created_at: Timestamp
    retraining_id: str
    challenger_version: int
    champion_version: int | None
    status: str
    decided_at: Timestamp | None
    decided_by: str | None
    reason: str | None

    @classmethod
    def from_approval(cls, a: Approval) -> ApprovalPublic:
        return cls(id=a.id, created_at=a.created_at, retraining_id=a.retraining_id,
                   challenger_version=a.challenger_version, champion_version=a.champion_version,
                   status=a.status, decided_at=a.decided_at, decided_by=a.decided_by,
                   reason=a.reason)


class ApprovalsPublic(_Public):
    data: list[ApprovalPublic]
    count: int


class ErrorPublic(_Public):
    """Every error body: one line, no stack trace, no file path."""

    detail: str
