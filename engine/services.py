"""The facade every UI calls: reads are nouns, commands are verbs.

``Services`` is built once per process from ``Settings`` (and a ``Clock``) and handed to the
CLI, the console, the API and the dashboard. It composes the engine modules; it holds no
business rule of its own beyond ordering the steps. Results are frozen dataclasses.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, SystemClock
from engine.config import Settings
from engine.dataset import Dataset, DatasetInfo, DatasetSplit
from engine.errors import InvalidInput, NoChampionError, SpamopsError, StoreError
from engine.records import (
    Approval,
    AuditRecord,
    AuditVerification,
    DailyAccuracy,
    DailyTraffic,
    Decision,
    DriftSnapshot,
    FeedbackRecord,
    JobRun,
    OutboxDelivery,
    PredictionRecord,
    QueryResult,
    ReceiverHealth,
    RetrainingEvent,
)
from engine.registry import AliasMove, ModelVersionInfo, Registry
from engine.training import TrainingData, TrainingResult, scorer_for, spam_probability

if TYPE_CHECKING:
    from engine.drift import DetectorCache, DriftDetector, DriftReport
    from engine.monitoring import CheckResult, Monitor, MonitorLog, RetrainResult
    from engine.notify.events import NotifyEvent
    from engine.notify.sender import DeliveryResult, OutboxSender, PassSummary
    from engine.scheduling import HolderInfo, JobContext, JobSpec, SchedulerEvent, SchedulerHost
    from engine.store import Store

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

MAX_TEXT_CHARS = 5000
"""Longest message the engine scores; longer input is refused, not truncated."""


@dataclass(frozen=True)
class Prediction:
    """One scored message."""

    id: str
    label: str
    spam_probability: float
    model_version: int
    text: str


@dataclass(frozen=True)
class Health:
    """What a serving process can say about itself (``GET /health``)."""

    model_version: int | None
    """The champion version loaded for serving; None when there is none."""
    store_reachable: bool
    scheduler_holder: HolderInfo | None
    problems: tuple[str, ...]
    """One line per problem (no champion, store unreachable); empty when healthy."""


@dataclass(frozen=True)
class TrainOutcome:
    """What ``train`` did: the new version, its metrics, and whether it became champion."""

    result: TrainingResult
    champion_version: int
    became_champion: bool


@dataclass(frozen=True)
class SimulationResult:
    """What ``simulate`` scored and labelled."""

    messages: int
    drifted: int
    labelled: int
    spam_predicted: int
    accuracy_on_labelled: float | None
    """Share of labelled predictions that were right (what the late labels will show)."""
    model_version: int
    started_at: datetime
    label_delay_seconds: float


@dataclass(frozen=True)
class ChampionCard:
    """The champion as the console and the dashboard show it."""

    version: int
    created_at: datetime
    accuracy: float | None
    """Test-split metrics at training time."""
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    live_accuracy: float | None
    """Accuracy on recent traffic from the latest check: measured from labels or estimated."""
    live_accuracy_is_estimate: bool
    live_accuracy_low: float | None
    live_accuracy_high: float | None
    live_labels: int
    previous_version: int | None
    previous_accuracy: float | None
    previous_f1: float | None


@dataclass(frozen=True)
class Overview:
    """One read of everything the overview screens show."""

    champion: ChampionCard | None
    latest_snapshot: DriftSnapshot | None
    latest_decision: Decision | None
    pending_approvals: int
    predictions_total: int
    versions: int
    scheduler_holder: HolderInfo | None
    now: datetime


@dataclass(frozen=True)
class AlertGauges:
    """What the Prometheus alert rules watch (``deploy/prometheus/spamops-rules.yml``), read
    at scrape time. Times are naive UTC."""

    last_check_at: datetime | None
    """The newest monitoring decision (any trigger)."""
    check_interval_seconds: float
    accuracy: float | None
    """The newest check's accuracy that has a value (measured or estimated)."""
    accuracy_is_estimate: bool
    accuracy_floor: float
    accuracy_estimate_unreliable: bool
    """That estimate was made on a drifted window (drift makes it optimistic)."""
    pending_approvals: int
    oldest_pending_approval_at: datetime | None
    spool_segments: int
    spool_bytes: int
    scheduler_holder_present: bool
    receivers: tuple[ReceiverHealth, ...]


class ChampionCache:
    """The champion pipeline, re-checking the alias at most every ``refresh_seconds``.

    Serving follows the ``champion`` alias without restart: a promotion made by any process is
    picked up by the next check, and requests keep using the old model until the new one is
    loaded, so none fails during the switch. Only the very first ``get`` waits for the
    registry; later checks run on a background thread, and when this process moves an alias
    ``refresh`` loads the new champion on the caller's thread, so no request waits for MLflow.
    """

    def __init__(self, registry: Registry, refresh_seconds: float) -> None:
        self._registry = registry
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._current: tuple[int, Any] | None = None
        self._checked = 0.0
        self._stale = True
        """Set until the first check (or by a failed ``refresh``): ``get`` checks first."""

    def get(self) -> tuple[int, Any]:
        """The current champion (version, model)."""
        current = self._current
        if current is not None and not self._stale:
            if time.monotonic() - self._checked >= self._refresh and self._lock.acquire(
                    blocking=False):
                threading.Thread(target=self._check_in_background, daemon=True,
                                 name="spamops-champion").start()
            return current
        with self._lock:
            if self._current is None or self._stale:
                self._check()
            assert self._current is not None
            return self._current

    def refresh(self) -> None:
        """Re-check the alias now: this process has just moved it.

        A process that serves (a champion is loaded) loads the new one here, on the thread
        that moved the alias, so the next request does not wait for it (in ``spamops console
        --serve`` requests are scored on the console's event loop). A process that has not
        scored anything yet only marks the cache stale.
        """
        with self._lock:
            if self._current is None:
                self._stale = True
                return
            try:
                self._check()
            except SpamopsError as exc:  # the next get() tries again and raises it there
                logger.warning("could not load the new champion yet: %s", exc)
                self._stale = True

    def _check(self) -> None:
        """Read the alias and load a new champion if it moved (the caller holds the lock)."""
        version = self._registry.require_champion()
        if self._current is None or self._current[0] != version:
            model = self._registry.load(version)
            scorer_for(model)  # compile now, on this thread, not in the first request
            self._current = (version, model)
        self._checked = time.monotonic()
        self._stale = False

    def _check_in_background(self) -> None:
        try:
            self._check()
        except Exception as exc:  # keep serving the current model; try again later
            logger.warning("champion check failed, still serving the current model: %s", exc)
            self._checked = time.monotonic()
        finally:
            self._lock.release()


class Services:
    """Everything the UIs may ask the engine for."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 read_only: bool = False) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.read_only = read_only
        self.dataset = Dataset(settings.dataset_url, settings.dataset_dir, seed=settings.seed,
                               test_size=settings.test_size)
        self.registry = Registry(settings.tracking_uri, settings.model_name,
                                 str(settings.artifacts_dir.resolve()))
        self.champion = ChampionCache(self.registry, settings.server.champion_refresh_seconds)
        self._store: Store | None = None
        self._monitor: Monitor | None = None
        self._monitor_log: MonitorLog | None = None
        self._store_lock = threading.Lock()
        self._drift_cache: DetectorCache | None = None
        self._sender: OutboxSender | None = None
        self._enqueued = False

    @property
    def store(self) -> Store:
        """The history store, opened on first use (read-write stores migrate first)."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    from engine.store import Store  # lazily: keeps duckdb out of start-up

                    store = Store(self.settings.db_path, self.settings.spool_dir,
                                  clock=self.clock, read_only=self.read_only,
                                  flush_seconds=self.settings.server.log_flush_seconds,
                                  notify=self.settings.notify)
                    store.on_outbox_written(self._outbox_written)
                    if not self.read_only:
                        store.migrate()
                    self._store = store
                    if not self.read_only:
                        self._record_config_change(store)
        return self._store

    def _record_config_change(self, store: Store) -> None:
        """Audit the effective configuration when it differs from the last one recorded.

        Settings are read once per process, so a change shows when a writer starts with other
        values; the record lists each changed key with its old and new value and its source.
        """
        from engine.config import describe

        current = {v.key: {"value": v.value, "source": v.source}
                   for v in describe(self.settings) if v.key != "api_key"}
        last = store.last_audit("config.effective")
        previous = last.details.get("values", {}) if last is not None else {}
        changed = {key: {"old": previous.get(key, {}).get("value"), "new": now["value"],
                         "source": now["source"]}
                   for key, now in current.items()
                   if previous.get(key, {}).get("value") != now["value"]}
        if last is not None and not changed:
            return
        reasoning = ("First configuration recorded for this data home." if last is None else
                     "Configuration changed: " + ", ".join(
                         f"{k} {c['old']!r} -> {c['new']!r} ({c['source']})"
                         for k, c in changed.items()) + ".")
        store.append_audit(self.settings.operator_name, "config.effective", "config",
                           {"values": current, "changed": changed if last else {}}, reasoning)

    def close(self) -> None:
        """Release resources held by this process (ingest the prediction spool).

        Stops the notification sender; a process without one (a CLI command) that enqueued
        notifications makes one delivery pass first, so `spamops retrain` from cron tells its
        receivers at once (what fails waits in the outbox for the next sender).
        """
        self._close_notifications()
        if self._store is not None:
            self._store.close()
            self._store = None

    # Dataset -----------------------------------------------------------------------------
    def fetch_dataset(self) -> Path:
        """Fetch and verify the corpus into the data home."""
        return self.dataset.fetch()

    def dataset_info(self) -> DatasetInfo:
        """Counts, checksum and split sizes of the corpus."""
        return self.dataset.info()

    def split(self) -> DatasetSplit:
        """The persisted train/test split."""
        return self.dataset.split()

    # Models ------------------------------------------------------------------------------
    def train(self, *, trigger: str = "manual", progress: Progress | None = None,
              actor: str | None = None) -> TrainOutcome:
        """Train on the training split, register a version; the first becomes champion."""
        from engine.training import TRAINED_AT, train_and_log

        split = self.dataset.split(progress)
        lineage = {"trigger": trigger,
                   TRAINED_AT: self.clock.now().isoformat(timespec="seconds")}
        data = TrainingData(split.train_texts, split.train_labels, split.test_texts,
                            split.test_labels, split.fingerprint, lineage)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        result = train_and_log(
            data, tracking_uri=self.settings.tracking_uri, experiment="spamops",
            model_name=self.settings.model_name,
            artifact_location=str(self.settings.artifacts_dir.resolve()),
            seed=self.settings.seed, progress=progress)
        became = self.registry.adopt_first(result.version)
        self.champion.refresh()
        outcome = TrainOutcome(result=result, champion_version=self.registry.require_champion(),
                               became_champion=became)
        metrics = result.metrics.as_dict()
        self.store.record_model_version(result.version, result.run_id, self.clock.now(),
                                        metrics, dict(result.lineage))
        self.audit("train", f"v{result.version}", {
            "version": result.version, "run_id": result.run_id, "trigger": trigger,
            "metrics": metrics, "n_train": result.n_train, "n_test": result.n_test,
            "lineage": dict(result.lineage), "champion_version": outcome.champion_version},
            f"trained version {result.version} ({trigger}); "
            + ("it became champion as the first version" if became
               else f"champion stays version {outcome.champion_version}"), actor=actor)
        return outcome

    def models(self) -> list[ModelVersionInfo]:
        """Registered versions, newest first."""
        return self.registry.versions()

    def promote(self, version: int, *, actor: str | None = None,
                reasoning: str = "promoted by an operator") -> AliasMove:
        """Make ``version`` the champion."""
        move = self.registry.promote(version)
        self.champion.refresh()
        self.audit("promote", f"v{version}", {"champion": move.champion,
                                              "previous": move.previous,
                                              "demoted": move.demoted}, reasoning, actor=actor)
        return move

    def rollback(self, *, actor: str | None = None,
                 reasoning: str = "rolled back by an operator") -> AliasMove:
        """Swap champion and previous."""
        from engine.notify.events import rolled_back

        move = self.registry.rollback()
        self.champion.refresh()
        who = actor or self.settings.operator_name
        self.audit("rollback", f"v{move.champion}", {"champion": move.champion,
                                                     "previous": move.previous,
                                                     "demoted": move.demoted},
                   reasoning, actor=who,
                   events=rolled_back(self.clock.now(), move.champion, move.demoted, who,
                                      reasoning))
        return move

    # Scoring -----------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], *, source: str = "cli") -> list[Prediction]:
        """Score ``texts`` with the champion."""
        for text in texts:
            if not text or not text.strip():
                raise InvalidInput("a message must not be empty")
            if len(text) > MAX_TEXT_CHARS:
                raise InvalidInput(f"a message must be at most {MAX_TEXT_CHARS} characters")
        started = time.perf_counter()
        version, model = self.champion.get()
        proba = spam_probability(model, texts)
        predictions = [
            Prediction(id=uuid.uuid4().hex, label="spam" if p >= 0.5 else "ham",
                       spam_probability=float(p), model_version=version, text=t)
            for t, p in zip(texts, proba, strict=True)
        ]
        if not self.read_only:
            latency_ms = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
            now = self.clock.now()
            self.store.log_predictions(
                PredictionRecord(id=p.id, ts=now, text=p.text, model_version=p.model_version,
                                 label=p.label, spam_probability=p.spam_probability,
                                 latency_ms=latency_ms, source=source)
                for p in predictions)
        return predictions

    # History store -----------------------------------------------------------------------
    def setup_database(self) -> int:
        """Create or upgrade the history database; returns the schema version."""
        return self.store.migrate()

    def add_feedback(self, prediction_id: str, label: str, *, source: str) -> FeedbackRecord:
        """Record the true label of a logged prediction."""
        return self.store.add_feedback(prediction_id, label.strip().lower(), source)

    def sql(self, query: str, limit: int | None = None) -> QueryResult:
        """Run an analyst's read-only query over the history."""
        return self.store.sql(query, limit)

    def export(self, directory: Path) -> list[Path]:
        """Write the history as Parquet partitioned by day; returns the table folders."""
        return self.store.export_parquet(directory)

    def audit(self, action: str, subject: str, details: dict[str, Any], reasoning: str,
              actor: str | None = None, events: Sequence[NotifyEvent] = ()) -> AuditRecord:
        """Append a record to the audit trail (actor defaults to the operator name);
        ``events`` go to the webhook outbox in the same transaction."""
        return self.store.append_audit(actor or self.settings.operator_name, action, subject,
                                       details, reasoning, events=events)

    def audit_records(self, limit: int | None = None) -> list[AuditRecord]:
        """The audit trail in chain order (the newest ``limit`` records if given)."""
        return self.store.audit_records(limit)

    def verify_audit(self) -> AuditVerification:
        """Check the audit hash chain and name the first broken record."""
        return self.store.verify_audit()

    # Drift (issue 4) ---------------------------------------------------------------------
    def drift_detector(self) -> DriftDetector:
        """The champion's drift detector (reference: its training texts), built once per version.

        Cached in memory and under ``<home>/cache/drift``, keyed by model version, drift
        threshold and false-alarm rate; the champion's ``predict_proba`` is attached.
        """
        from engine.drift import DetectorCache, DriftDetector, word_subspace
        from engine.training import feature_space

        version, model = self.champion.get()
        thresholds = self.settings.thresholds
        if self._drift_cache is None:
            self._drift_cache = DetectorCache(self.settings.home / "cache" / "drift",
                                              threshold=thresholds.drift,
                                              false_alarm_rate=thresholds.false_alarm_rate)

        def predict(texts: Sequence[str]) -> Any:
            return spam_probability(model, texts)

        def build() -> DriftDetector:
            return DriftDetector.fit(
                self.registry.reference_texts(version),
                feature_space=word_subspace(feature_space(model)), predict_proba=predict,
                threshold=thresholds.drift, false_alarm_rate=thresholds.false_alarm_rate,
                seed=self.settings.seed, model_version=version)

        return self._drift_cache.get(version, build).with_predictor(predict)

    def drift_reports(self, current: Sequence[tuple[str, Sequence[str]]],
                      reference: Sequence[str] | None = None) -> list[DriftReport]:
        """Drift of each ``(source, texts)`` window, in order, against ``reference``.

        Without ``reference`` the champion's training texts are the reference, in its feature
        space. With one, no model is needed: the feature space is fitted on ``reference`` and
        prediction drift uses the champion when there is one.
        """
        from engine.drift import DriftDetector

        now = self.clock.now()
        if reference is None:
            detector = self.drift_detector()
        else:
            predict = None
            # A data home without a registry file has no champion: skip MLflow's slow start-up.
            has_registry = (self.settings.mlflow_tracking_uri is not None
                            or (self.settings.home / "mlflow.db").exists())
            version = self.registry.champion_version() if has_registry else None
            if version is not None:
                version, model = self.champion.get()

                def predict(texts: Sequence[str]) -> Any:
                    return spam_probability(model, texts)

            thresholds = self.settings.thresholds
            detector = DriftDetector.fit(
                reference, predict_proba=predict, threshold=thresholds.drift,
                false_alarm_rate=thresholds.false_alarm_rate, seed=self.settings.seed,
                model_version=version)
        probabilities: dict[str, float] = {}
        if detector.predict_proba is not None:
            # Score each distinct text once: windows cut from one pool repeat messages.
            distinct = list(dict.fromkeys(t for _, texts in current for t in texts))
            scored = detector.predict_proba(distinct) if distinct else []
            probabilities = dict(zip(distinct, (float(p) for p in scored), strict=True))
        reports = [
            detector.score(texts, timestamp=now, source=source,
                           spam_probabilities=([probabilities[t] for t in texts]
                                               if probabilities else None))
            for source, texts in current
        ]
        if reference is None and self._drift_cache is not None and not self.read_only:
            self._drift_cache.save(detector.model_version)
        return reports

    # Monitoring (issue 5) ----------------------------------------------------------------
    @property
    def monitor_log(self) -> MonitorLog:
        """The timestamped monitoring log (``<home>/logs/monitor.log``)."""
        if self._monitor_log is None:
            from engine.monitoring import MonitorLog

            self._monitor_log = MonitorLog(self.settings.logs_dir / "monitor.log", self.clock)
        return self._monitor_log

    @property
    def monitor(self) -> Monitor:
        """The monitoring cycle for this data home (marks interrupted retrains on creation)."""
        if self._monitor is None:
            from engine.monitoring import Monitor

            monitor = Monitor(settings=self.settings, store=self.store, registry=self.registry,
                              dataset=self.dataset,
                              detector_for=lambda _version: self.drift_detector(),
                              clock=self.clock, log=self.monitor_log,
                              on_champion_changed=self.champion.refresh)
            if not self.read_only:
                monitor.recover_interrupted()
            self._monitor = monitor
        return self._monitor

    def _actor(self, actor: str | None) -> str:
        return actor or self.settings.operator_name

    def check_now(self, *, trigger: str = "operator", actor: str | None = None,
                  retrain: bool = True, progress: Progress | None = None) -> CheckResult:
        """Run one monitoring cycle now (and a retrain when the rules say so)."""
        actor_name = "scheduler" if trigger == "schedule" else self._actor(actor)
        return self.monitor.check(trigger=trigger, actor=actor_name, retrain=retrain,
                                  progress=progress)

    def retrain(self, *, trigger: str = "operator", actor: str | None = None,
                progress: Progress | None = None) -> RetrainResult:
        """Train a challenger now, compare it and deploy, keep or queue it for approval."""
        actor_name = "scheduler" if trigger == "schedule" else self._actor(actor)
        return self.monitor.retrain(trigger=trigger, actor=actor_name,
                                    reasons=(f"Retrain requested ({trigger}) by {actor_name}.",),
                                    progress=progress)

    def retrain_running(self) -> bool:
        """Whether a retrain of this data home is running in any process."""
        return self.monitor.retrain_running()

    def approvals(self, status: str | None = "pending") -> list[Approval]:
        """Approvals, pending ones by default."""
        return self.store.approvals(status)

    def approve(self, approval_id: str, *, actor: str | None = None,
                reason: str | None = None) -> Approval:
        """Deploy a pending challenger."""
        return self.monitor.approve(approval_id, actor=self._actor(actor), reason=reason)

    def reject(self, approval_id: str, *, actor: str | None = None,
               reason: str | None = None) -> Approval:
        """Discard a pending challenger."""
        return self.monitor.reject(approval_id, actor=self._actor(actor), reason=reason)

    def decisions(self, limit: int = 50) -> list[Decision]:
        """Monitoring decisions, newest first."""
        return self.store.decisions(limit)

    def retraining_history(self, limit: int = 10) -> list[RetrainingEvent]:
        """Retraining events, newest first."""
        return self.store.retraining_events(limit)

    def latest_comparison(self) -> RetrainingEvent | None:
        """The newest retraining event that has a champion/challenger comparison."""
        for event in self.store.retraining_events(200):
            if event.comparison:
                return event
        return None

    def drift_history(self, limit: int = 100, since: datetime | None = None
                      ) -> list[DriftSnapshot]:
        """Drift snapshots, newest first."""
        return self.store.snapshots(limit, since)

    def latest_drift(self) -> DriftSnapshot | None:
        """The newest drift snapshot."""
        return self.store.latest_snapshot()

    def job_runs(self, limit: int = 50) -> list[JobRun]:
        """Scheduler job runs, newest first."""
        return self.store.job_runs(limit)

    # Scheduling --------------------------------------------------------------------------
    def scheduler(self, *, kind: str, mode: str = "background",
                  on_event: Callable[[SchedulerEvent], None] | None = None) -> SchedulerHost:
        """A scheduler host running the monitoring and retraining jobs of this data home."""
        from engine.scheduling import SchedulerHost, SchedulerLock

        standing_by = False

        def relay(event: SchedulerEvent) -> None:
            # A host that stood by and then became active took over from a holder that went
            # away: worth telling people (issue 17), since that holder probably crashed.
            nonlocal standing_by
            if event.kind == "standby":
                standing_by = True
            elif event.kind == "active" and standing_by:
                standing_by = False
                self._record_takeover(event)
            if on_event is not None:
                on_event(event)

        return SchedulerHost(self.scheduled_jobs(), self.store,
                             SchedulerLock.for_home(self.settings.home), self.clock,
                             kind=kind, mode=mode,  # type: ignore[arg-type]
                             misfire_grace_seconds=self.settings.monitoring.misfire_grace_seconds,
                             on_event=relay)

    def _record_takeover(self, event: SchedulerEvent) -> None:
        from engine.notify.events import scheduler_takeover

        holder = event.holder.describe() if event.holder is not None else "this process"
        self.audit("scheduler.takeover", holder, {"holder": holder}, event.message,
                   actor="system",
                   events=scheduler_takeover(self.clock.now(), holder, event.message))

    def scheduled_jobs(self, start: datetime | None = None) -> list[JobSpec]:
        """The monitoring (interval) and retraining (cron) jobs."""
        from engine.scheduling import default_jobs

        def monitor_job(ctx: JobContext) -> str:
            result = self.check_now(trigger="schedule" if ctx.trigger == "schedule"
                                    else "operator")
            return f"{result.decision.decision}: {result.decision.outcome}"

        def retrain_job(ctx: JobContext) -> str:
            outcome = self.retrain(trigger="schedule" if ctx.trigger == "schedule"
                                   else "operator")
            return f"{outcome.deployment.decision}: {outcome.event.reasoning}"

        return default_jobs(self.settings, monitor_job, retrain_job, start=start)

    def scheduler_holder(self) -> HolderInfo | None:
        """Which process holds this data home's scheduler, if any."""
        from engine.scheduling import SchedulerLock

        return SchedulerLock.for_home(self.settings.home).holder()

    def health(self) -> Health:
        """Champion loaded, store answering, scheduler holder: never raises a SpamopsError."""
        problems: list[str] = []
        version: int | None = None
        try:
            if not self._registry_exists():
                raise NoChampionError("no champion model yet: run `spamops train`")
            version, _ = self.champion.get()
        except SpamopsError as exc:
            problems.append(str(exc))
        reachable = False
        try:
            if not self._store_exists():
                raise StoreError("no history database yet: run `spamops setup-database`")
            self.store.schema_version()
            reachable = True
        except SpamopsError as exc:
            problems.append(str(exc))
        return Health(model_version=version, store_reachable=reachable,
                      scheduler_holder=self.scheduler_holder(), problems=tuple(problems))

    # Traffic simulation ------------------------------------------------------------------
    def simulate(self, *, messages: int, drift: float = 0.0, label_rate: float = 0.0,
                 seed: int = 42, label_delay: timedelta = timedelta(0), batch: int = 500,
                 source: str = "simulate", progress: Progress | None = None
                 ) -> SimulationResult:
        """Score ``messages`` held-out clean messages mixed with a share ``drift`` of drifted
        ones exactly as the API would, and file true labels for a share ``label_rate``.

        Labels are dated ``label_delay`` after their prediction (late feedback).
        """
        import random

        from engine.traffic import mix

        if messages < 1:
            raise InvalidInput("--messages must be at least 1")
        if not 0 <= drift <= 1 or not 0 <= label_rate <= 1:
            raise InvalidInput("--drift and --label-rate must be between 0 and 1")
        split = self.dataset.split()
        window = mix(split.test_texts, split.test_labels, n=messages, fraction=drift, seed=seed)
        rng = random.Random(seed + 1)
        feedback: list[FeedbackRecord] = []
        spam = correct = labelled = 0
        first: datetime | None = None
        version = 0
        for start in range(0, len(window), batch):
            chunk = window[start:start + batch]
            predictions = self.predict([m.text for m in chunk], source=source)
            for message, prediction in zip(chunk, predictions, strict=True):
                version = prediction.model_version
                spam += prediction.label == "spam"
                if rng.random() < label_rate:
                    labelled += 1
                    correct += prediction.label == message.label
                    feedback.append(FeedbackRecord(prediction.id, self.clock.now() + label_delay,
                                                   message.label, source))
            first = first or self.clock.now()
            if progress:
                progress(f"scored {min(start + batch, len(window))}/{len(window)} messages")
        self.store.add_feedback_many(feedback)
        return SimulationResult(
            messages=len(window), drifted=round(messages * drift), labelled=labelled,
            spam_predicted=spam, accuracy_on_labelled=(correct / labelled) if labelled else None,
            model_version=version, started_at=first or self.clock.now(),
            label_delay_seconds=label_delay.total_seconds())

    # Overview ----------------------------------------------------------------------------
    def overview(self) -> Overview:
        """Everything the console's overview and the dashboard's cards show, in one read."""
        champion_card: ChampionCard | None = None
        versions = self.registry.versions() if self._registry_exists() else []
        champion = next((v for v in versions if v.is_champion), None)
        decisions = self.store.decisions(50) if self._store_exists() else []
        # Live accuracy must be the current champion's, not a figure of the version it replaced.
        latest_measured = next((d for d in decisions if d.accuracy is not None
                                and champion is not None
                                and d.champion_version == champion.version), None)
        if champion is not None:
            previous = next((v for v in versions if "previous" in v.aliases), None)
            champion_card = ChampionCard(
                version=champion.version, created_at=champion.created_at,
                accuracy=champion.metrics.get("accuracy"),
                precision=champion.metrics.get("precision"),
                recall=champion.metrics.get("recall"), f1=champion.metrics.get("f1"),
                roc_auc=champion.metrics.get("roc_auc"),
                live_accuracy=latest_measured.accuracy if latest_measured else None,
                live_accuracy_is_estimate=(latest_measured.accuracy_is_estimate
                                           if latest_measured else True),
                live_accuracy_low=latest_measured.accuracy_low if latest_measured else None,
                live_accuracy_high=latest_measured.accuracy_high if latest_measured else None,
                live_labels=latest_measured.n_labels if latest_measured else 0,
                previous_version=previous.version if previous else None,
                previous_accuracy=previous.metrics.get("accuracy") if previous else None,
                previous_f1=previous.metrics.get("f1") if previous else None)
        has_store = self._store_exists()
        return Overview(
            champion=champion_card,
            latest_snapshot=self.store.latest_snapshot() if has_store else None,
            latest_decision=decisions[0] if decisions else None,
            pending_approvals=len(self.store.approvals("pending")) if has_store else 0,
            predictions_total=self.store.count_predictions() if has_store else 0,
            versions=len(versions),
            scheduler_holder=self.scheduler_holder(),
            now=self.clock.now())

    def _store_exists(self) -> bool:
        return self._store is not None or self.settings.db_path.exists()

    def _registry_exists(self) -> bool:
        return (self.settings.mlflow_tracking_uri is not None
                or (self.settings.home / "mlflow.db").exists())

    # Dashboard reads (issue 8): aggregation runs in DuckDB, the UI gets small records ---------
    def has_history(self) -> bool:
        """Whether this data home has a history database yet (a fresh home has none)."""
        return self._store_exists()

    def daily_traffic(self, since: datetime | None = None,
                      until: datetime | None = None) -> list[DailyTraffic]:
        """Predictions per UTC day, oldest first, for the days of ``since`` through ``until``."""
        return self.store.daily_traffic(since, until)

    def daily_accuracy(self, since: datetime | None = None,
                       until: datetime | None = None) -> list[DailyAccuracy]:
        """Measured (by prediction day) and estimated (by check day) accuracy per UTC day."""
        return self.store.daily_accuracy(since, until)

    # Notifications (issue 17): webhooks through the store's outbox --------------------------
    def _outbox_written(self) -> None:
        self._enqueued = True
        if self._sender is not None:
            self._sender.wake()

    def _outbox_sender(self) -> OutboxSender:
        if self._sender is None:
            from engine.notify.sender import OutboxSender

            self._sender = OutboxSender(self.store, self.settings.notify)
        return self._sender

    def start_notifier(self) -> bool:
        """Deliver webhook events in a background thread of this long-lived process (serve,
        monitor, console); ``False`` when no receiver is configured or the store is
        read-only. Stopped by ``close``."""
        if not self.settings.notify.webhooks or self.read_only:
            return False
        self._outbox_sender().start()
        return True

    def deliver_notifications(self) -> PassSummary:
        """Deliver every due webhook event now, in the calling thread (``notify send``)."""
        return self._outbox_sender().deliver_due()

    def notify_test(self) -> list[DeliveryResult]:
        """POST a test event to every configured receiver now (not through the outbox)."""
        from engine.notify.events import test_event

        return self._outbox_sender().send_test(lambda key: test_event(self.clock.now(), key))

    def notify_status(self, limit: int = 200) -> tuple[list[ReceiverHealth],
                                                       list[OutboxDelivery]]:
        """Each receiver's delivery health, and the pending and failed deliveries."""
        if not self._store_exists():
            return [ReceiverHealth(h.key, 0, 0, 0, 0, "", None, None, None)
                    for h in self.settings.notify.webhooks], []
        return self.store.receiver_health(), self.store.outbox_deliveries(limit=limit)

    def failing_receivers(self) -> list[ReceiverHealth]:
        """Receivers retrying or given up on since their last success (console, dashboard)."""
        if not self._store_exists():
            return []
        return [r for r in self.store.receiver_health() if r.failing]

    def _close_notifications(self) -> None:
        sender, self._sender = self._sender, None
        if sender is None and self._enqueued and self._store is not None:
            from engine.notify.sender import OutboxSender

            sender = OutboxSender(self._store, self.settings.notify)
        if sender is None:
            return
        try:
            if not sender.running and self._enqueued:
                self._enqueued = False
                sender.deliver_due()
        except SpamopsError as exc:
            logger.warning("notifications left in the outbox: %s", exc)
        finally:
            sender.stop()

    def alert_gauges(self) -> AlertGauges:
        """Everything the Prometheus alert rules need, in one read (``/metrics``).

        The estimate counts as unreliable when its check saw drift above the threshold: the
        mean-confidence estimate assumes the model is calibrated on this traffic, which drift
        breaks (docs/architecture.md, "Monitoring").
        """
        holder = self.scheduler_holder() is not None
        interval = self.settings.monitoring.interval_minutes * 60
        floor = self.settings.thresholds.accuracy_floor
        if not self._store_exists():
            return AlertGauges(None, interval, None, True, floor, False, 0, None, 0, 0, holder,
                               ())
        decisions = self.store.decisions(50)
        with_accuracy = next((d for d in decisions if d.accuracy is not None), None)
        unreliable = False
        if with_accuracy is not None and with_accuracy.accuracy_is_estimate:
            flagged = getattr(with_accuracy, "accuracy_unreliable", None)
            if flagged is not None:  # a check that judged its own estimate
                unreliable = bool(flagged)
            else:
                threshold = with_accuracy.thresholds.get("drift")
                unreliable = (with_accuracy.drift_score is not None and threshold is not None
                              and with_accuracy.drift_score > float(threshold))
        pending = self.store.approvals("pending")
        segments, size = self.store.spool_backlog()
        return AlertGauges(
            last_check_at=decisions[0].ts if decisions else None,
            check_interval_seconds=interval,
            accuracy=with_accuracy.accuracy if with_accuracy else None,
            accuracy_is_estimate=with_accuracy.accuracy_is_estimate if with_accuracy else True,
            accuracy_floor=floor, accuracy_estimate_unreliable=unreliable,
            pending_approvals=len(pending),
            oldest_pending_approval_at=min((a.created_at for a in pending), default=None),
            spool_segments=segments, spool_bytes=size, scheduler_holder_present=holder,
            receivers=tuple(self.store.receiver_health()))
