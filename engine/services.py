"""The facade every UI calls: reads are nouns, commands are verbs.

``Services`` is built once per process from ``Settings`` (and a ``Clock``) and handed to the
CLI, the console, the API and the dashboard. It composes the engine modules; it holds no
business rule of its own beyond ordering the steps. Results are frozen dataclasses.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, SystemClock
from engine.config import Settings
from engine.dataset import Dataset, DatasetInfo, DatasetSplit
from engine.datasets import (
    ChampionDatasets,
    DatasetCatalog,
    DatasetRecord,
    ImportResult,
    lineage_datasets,
)
from engine.errors import (
    InvalidInput,
    ModelNotFound,
    SpamopsError,
    StoreError,
)
from engine.records import (
    Approval,
    AuditRecord,
    AuditVerification,
    BaselineWindow,
    DailyAccuracy,
    DailyTraffic,
    Decision,
    DriftSnapshot,
    FeedbackRecord,
    JobRun,
    LabelImport,
    LabelItem,
    OutboxDelivery,
    PredictionRecord,
    QueryResult,
    ReceiverHealth,
    RetrainingEvent,
)
from engine.registry import CHAMPION, PREVIOUS, Aliases, AliasMove, ModelVersionInfo, Registry
from engine.serving import ChampionCache as ChampionCache
from engine.serving import ChampionStatus
from engine.training import TrainingData, TrainingResult, spam_probability

if TYPE_CHECKING:
    from engine.backup import BackupReport, RestoreReport
    from engine.champion_switch import ChampionSwitch
    from engine.drift import DetectorCache, DriftDetector, DriftReport
    from engine.files import Messages
    from engine.monitoring import CheckResult, Monitor, MonitorLog, RetrainResult
    from engine.notify.events import NotifyEvent
    from engine.notify.sender import DeliveryResult, OutboxSender, PassSummary
    from engine.retention import PruneReport
    from engine.scheduling import HolderInfo, JobContext, JobSpec, SchedulerEvent, SchedulerHost
    from engine.store import Store

SERVING_LOCK = "serving.lock"
"""Held shared by every serving process of a data home (``spamops restore`` checks it)."""

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
    """One line per problem (no champion, a champion that failed to load, store busy or
    unreachable); empty when healthy."""


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


BASELINE_SCHEMA = 5
"""The migration that created the accepted drift baseline (005_drift_baseline.sql)."""


@dataclass(frozen=True)
class BaselineView:
    """A champion's drift baseline: the accepted windows on top of its training reference."""

    champion_version: int
    windows: tuple[BaselineWindow, ...]
    """Accepted windows, oldest first, reset ones included (``reset_at`` set)."""

    @property
    def active(self) -> tuple[BaselineWindow, ...]:
        """The windows that count now."""
        return tuple(w for w in self.windows if w.reset_at is None)


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
    live_accuracy_unreliable: bool = False
    """The live accuracy is a label-free estimate that drift (or the labels) made unreliable."""


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


class Services:
    """Everything the UIs may ask the engine for."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 read_only: bool = False) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.read_only = read_only
        self.dataset = Dataset(settings.dataset_url, settings.dataset_dir, seed=settings.seed,
                               test_size=settings.test_size)
        self.datasets = DatasetCatalog(settings.home / "datasets", self.dataset)
        self.registry = Registry(settings.tracking_uri, settings.model_name,
                                 str(settings.artifacts_dir.resolve()))
        self.champion = ChampionCache(self.registry, settings.server.champion_refresh_seconds,
                                      on_aliases=self._aliases_seen)
        self._store: Store | None = None
        """The store once opened for use (migrated, spool recovered, config audited)."""
        self._spool_store: Store | None = None
        """The same store object before it is opened: logging needs no database."""
        self._switch: ChampionSwitch | None = None
        self._store_probe = StoreProbe(self)
        self._opener: threading.Thread | None = None
        self._serving_fd: int | None = None
        self._closing = False
        self._monitor: Monitor | None = None
        self._monitor_log: MonitorLog | None = None
        self._store_lock = threading.Lock()
        self._drift_cache: DetectorCache | None = None
        self._sender: OutboxSender | None = None
        self._enqueued = False

    @property
    def store(self) -> Store:
        """The history store, opened on first use (read-write stores migrate first).

        Opening waits while another process holds the file: never call it on an event loop
        (the API opens it with ``start_serving``, off the loop).
        """
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    store = self._unopened_store()
                    if not self.read_only:
                        store.migrate()  # also ingests what dead processes left in the spool
                        self._record_config_change(store)
                    self._store = store
                    if not self.read_only:
                        self._settle_champion_changes()
        return self._store

    def _settle_champion_changes(self) -> None:
        """Finish or undo champion changes a dead process left half-done (on a writer's
        start); if the registry cannot be reached now, the next change does it."""
        try:
            self.champion_switch.recover()
        except SpamopsError as exc:
            logger.warning("could not settle a pending champion change yet: %s", exc)

    def _unopened_store(self) -> Store:
        """The ``Store`` object, built without touching the database (no waiting)."""
        if self._spool_store is None:
            from engine.store import Store  # lazily: keeps duckdb out of start-up

            self._spool_store = Store(self.settings.db_path, self.settings.spool_dir,
                                      clock=self.clock, read_only=self.read_only,
                                      flush_seconds=self.settings.server.log_flush_seconds,
                                      recover=False, notify=self.settings.notify)
            self._spool_store.on_outbox_written(self._outbox_written)
            if not self.read_only:  # every audit head is anchored outside the database
                self._spool_store.audit_anchor = self.monitor_log.anchor
        return self._spool_store

    def start_serving(self) -> None:
        """Get ready to serve without blocking the caller (the API's lifespan, on the loop).

        The spool is ready at once, so predictions are logged from the first request; the
        store is opened (migrations, spool recovery, pending champion changes) on a
        background thread that retries while another process holds the file.
        """
        if self.read_only or self._opener is not None:
            return
        self._hold_serving_lock()
        with self._store_lock:
            self._unopened_store()

        def open_store() -> None:
            delay = 1.0
            while self._store is None and not self._closing:
                try:
                    _ = self.store
                except SpamopsError as exc:
                    logger.warning("history store not open yet, retrying in %.0f s: %s",
                                   delay, exc)
                    time.sleep(delay)
                    delay = min(delay * 2, 30.0)

        self._opener = threading.Thread(target=open_store, daemon=True,
                                        name="spamops-open-store")
        self._opener.start()

    def wait_until_open(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``start_serving``'s store to open (off the loop);
        returns whether it is open. The API's start-up gives it a moment, no more."""
        if self._opener is not None:
            self._opener.join(timeout)
        return self._store is not None

    @property
    def champion_switch(self) -> ChampionSwitch:
        """Moves the champion aliases as recorded intents (``engine.champion_switch``)."""
        if self._switch is None:
            from engine.champion_switch import ChampionSwitch

            self._switch = ChampionSwitch(
                store=self._store or self.store, registry=self.registry, clock=self.clock,
                lock_path=self.settings.home / "locks" / "champion.lock",
                on_moved=self._aliases_moved, log=self.monitor_log.write)
        return self._switch

    def _aliases_seen(self, aliases: Aliases) -> None:
        """The aliases are ``aliases`` now: caches keyed by version keep only theirs."""
        self.registry.retain(aliases)
        if self._drift_cache is not None:
            self._drift_cache.retain(set(aliases.values()))

    def _aliases_moved(self, aliases: Aliases) -> None:
        """This process moved the aliases: serve the new champion, evict the rest."""
        self._aliases_seen(aliases)
        self.champion.refresh()

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

    def _hold_serving_lock(self) -> None:
        """Hold a shared flock on ``<home>/locks/serving.lock`` while this process serves.

        Any number of servers share it; ``spamops restore`` asks for it exclusively, so a
        home that an API serves from is never swapped under it (``engine.backup``). The kernel
        drops it when the process dies.
        """
        import fcntl

        path = self.settings.home / "locks" / SERVING_LOCK
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._serving_fd = fd

    def close(self) -> None:
        """Release resources held by this process (ingest the prediction spool).

        Stops the notification sender; a process without one (a CLI command) that enqueued
        notifications makes one delivery pass first, so `spamops retrain` from cron tells its
        receivers at once (what fails waits in the outbox for the next sender).
        """
        self._close_notifications()
        self._closing = True
        if self._serving_fd is not None:
            os.close(self._serving_fd)  # drops the shared serving lock
            self._serving_fd = None
        if self._opener is not None:
            self._opener.join(timeout=1.0)  # it stops at its next retry; daemon either way
        store = self._store or self._spool_store
        self._store = self._spool_store = None
        if store is not None:
            store.close()

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

    def import_dataset(self, messages: Messages, name: str, *,
                       actor: str | None = None) -> ImportResult:
        """Store labelled ``messages`` (read by ``engine.files``) as dataset ``name``."""
        result = self.datasets.import_messages(messages, name, self.clock.now())
        if result.created:
            r = result.record
            self.audit("dataset.import", name, {
                "fingerprint": r.fingerprint, "source": r.source, "encoding": r.encoding,
                "messages": r.messages, "ham": r.ham, "spam": r.spam,
                "duplicates_removed": r.duplicates_removed,
                "blank_dropped": r.blank_dropped},
                f"imported dataset {name} ({r.messages} messages: {r.ham} ham, {r.spam} spam) "
                f"from {r.source}", actor=actor)
        return result

    def dataset_records(self) -> list[DatasetRecord]:
        """Every dataset of this home (``uci`` once fetched, then imported ones)."""
        return self.datasets.records()

    def dataset_record(self, name: str) -> DatasetRecord:
        """One dataset; raises ``NotFound``."""
        return self.datasets.record(name)

    def _champion_tags(self) -> dict[str, str] | None:
        """The champion's lineage tags (None before the first model)."""
        version = self.registry.champion_version() if self._registry_exists() else None
        return None if version is None else self.registry.version(version).tags

    # Models ------------------------------------------------------------------------------
    def train(self, *, trigger: str = "manual", progress: Progress | None = None,
              actor: str | None = None, datasets: Sequence[str] = ()) -> TrainOutcome:
        """Train on the training split of ``datasets`` (default ``uci``), register a version;
        the first becomes champion. Lineage tags name the datasets and fingerprints."""
        from engine.training import TRAINED_AT, train_and_log

        split = self.datasets.split(datasets, progress=progress)
        lineage = {**split.lineage, "trigger": trigger,
                   TRAINED_AT: self.clock.now().isoformat(timespec="seconds")}
        data = TrainingData(split.train_texts, split.train_labels, split.test_texts,
                            split.test_labels, split.fingerprint, lineage)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        result = train_and_log(
            data, tracking_uri=self.settings.tracking_uri, experiment="spamops",
            model_name=self.settings.model_name,
            artifact_location=str(self.settings.artifacts_dir.resolve()),
            seed=self.settings.seed, progress=progress)
        became = self._adopt_first(result.version, actor=actor)
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

    def _adopt_first(self, version: int, *, actor: str | None) -> bool:
        """Make ``version`` champion if there is none yet; returns whether it did."""
        if self.registry.champion_version() is not None:
            return False
        with self.champion_switch.locked() as current:
            if CHAMPION in current:
                return False
            self.champion_switch.move(
                current, {**current, CHAMPION: version}, kind="adopt",
                actor=self._actor(actor), action="champion.adopted", subject=f"v{version}",
                details={"champion": version},
                reasoning=f"version {version} became champion as the first version")
        return True

    def promote(self, version: int, *, actor: str | None = None,
                reasoning: str = "promoted by an operator",
                expected_champion: int | None = None) -> AliasMove:
        """Make ``version`` the champion; the old champion becomes ``previous``.

        Args:
            expected_champion: the champion the caller decided on; refused (``ConflictError``)
                if another is champion by the time the move runs.
        """
        with self.champion_switch.locked() as current:
            _expect(current, expected_champion)
            target = self.registry.plan_promotion(current, version)
            move = AliasMove(champion=version, previous=target.get(PREVIOUS),
                             demoted=current.get(CHAMPION))
            self.champion_switch.move(
                current, target, kind="promote", actor=self._actor(actor), action="promote",
                subject=f"v{version}", reasoning=reasoning,
                details={"champion": move.champion, "previous": move.previous,
                         "demoted": move.demoted})
        return move

    def rollback(self, *, actor: str | None = None,
                 reasoning: str = "rolled back by an operator",
                 expected_champion: int | None = None) -> AliasMove:
        """Swap champion and previous.

        Args:
            expected_champion: the champion the caller saw when deciding to roll back; refused
                (``ConflictError``) if another is champion by the time the move runs.
        """
        from engine.notify.events import rolled_back

        with self.champion_switch.locked() as current:
            _expect(current, expected_champion)
            target = self.registry.plan_rollback(current)
            move = AliasMove(champion=target[CHAMPION], previous=target.get(PREVIOUS),
                             demoted=current[CHAMPION])
            self.champion_switch.move(
                current, target, kind="rollback", actor=self._actor(actor), action="rollback",
                subject=f"v{move.champion}", reasoning=reasoning,
                details={"champion": move.champion, "previous": move.previous,
                         "demoted": move.demoted},
                events=rolled_back(self.clock.now(), move.champion, move.demoted,
                                   self._actor(actor), reasoning))
        return move

    # Scoring -----------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], *, source: str = "cli",
                wait: bool = True,
                timestamps: Sequence[datetime] | None = None) -> list[Prediction]:
        """Score ``texts`` with the champion and log them through the spool.

        Args:
            wait: wait for the first champion load if none is loaded yet. ``False`` never
                blocks (an event loop): it raises ``ChampionLoading`` instead. Logging never
                waits for the database either way.
            timestamps: log each text at its own time instead of the engine clock's now
                (``replay`` logs a file's traffic at its times).
        """
        if timestamps is not None and len(timestamps) != len(texts):
            raise InvalidInput("predict needs one timestamp per text")
        for text in texts:
            if not text or not text.strip():
                raise InvalidInput("a message must not be empty")
            if len(text) > MAX_TEXT_CHARS:
                raise InvalidInput(f"a message must be at most {MAX_TEXT_CHARS} characters")
        started = time.perf_counter()
        version, model = self.champion.get() if wait else self.champion.serving()
        proba = spam_probability(model, texts)
        predictions = [
            Prediction(id=uuid.uuid4().hex, label="spam" if p >= 0.5 else "ham",
                       spam_probability=float(p), model_version=version, text=t)
            for t, p in zip(texts, proba, strict=True)
        ]
        if not self.read_only:
            latency_ms = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
            times = timestamps if timestamps is not None else [self.clock.now()] * len(texts)
            (self._store or self._unopened_store()).log_predictions(
                PredictionRecord(id=p.id, ts=ts, text=p.text, model_version=p.model_version,
                                 label=p.label, spam_probability=p.spam_probability,
                                 latency_ms=latency_ms, source=source)
                for p, ts in zip(predictions, times, strict=True))
        return predictions

    # History store -----------------------------------------------------------------------
    def setup_database(self) -> int:
        """Create or upgrade the history database; returns the schema version."""
        return self.store.migrate()

    def add_feedback(self, prediction_id: str, label: str, *, source: str) -> FeedbackRecord:
        """Record the true label of a logged prediction."""
        return self.store.add_feedback(prediction_id, label.strip().lower(), source)

    def import_labels(self, items: Sequence[LabelItem], *, source: str, origin: str,
                      actor: str | None = None) -> LabelImport:
        """Record many true labels at once, all or nothing (``engine.store.labels``)."""
        result = self.store.import_labels(items, source, origin=origin)
        if result.added:
            self.audit("feedback.import", origin, {
                "source": source, "received": result.received, "added": result.added,
                "unchanged": result.unchanged, "conflicts": result.conflicts,
                "matched_predictions": result.matched_predictions},
                f"imported {result.added} labels from {origin} ({result.conflicts} "
                f"contradicting an earlier label, {result.unchanged} already known)",
                actor=actor)
        return result

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

    def verify_audit(self, metrics_count: int | None = None) -> AuditVerification:
        """Check the keyed audit chain against its anchors and name the first broken record.

        Anchors: every head written to the monitor log, plus ``metrics_count`` (the
        ``spamops_audit_records_total`` a Prometheus scrape saw) when given.
        """
        from engine.audit import Anchor

        anchors = list(self.monitor_log.anchors())
        if metrics_count is not None:
            anchors.append(Anchor(metrics_count, None, "/metrics counter"))
        return self.store.verify_audit(anchors)

    def audit_head_anchored(self) -> int:
        """Records in the audit chain as last anchored in the monitor log (0 when none): the
        ``/metrics`` counter, read from the log, not the database."""
        anchor = self.monitor_log.last_anchor()
        return anchor.seq if anchor is not None else 0

    # Drift (issue 4) ---------------------------------------------------------------------
    def drift_detector(self, version: int | None = None) -> DriftDetector:
        """The drift detector of ``version`` (default: the registry's champion now), whose
        reference is that version's training texts; built once per version.

        Fetched by version, never through the serving cache, which may still hold the
        previous champion (issue 14). The baseline is the reference plus the windows accepted
        for that version (issue 13, item 3). Cached in memory (bounded) and under
        ``<home>/cache/drift``, keyed by model version, baseline state, drift threshold and
        false-alarm rate; that version's ``predict_proba`` is attached. The spam-rate null's
        reference is the version's predictions on the persisted test split, which no model
        trains on (out of sample).
        """
        from engine.drift import AcceptedWindow, DetectorCache, DriftDetector, word_subspace
        from engine.training import feature_space

        if version is None:
            version = self.registry.require_champion()
        model = self.registry.load(version)
        thresholds = self.settings.thresholds
        if self._drift_cache is None:
            self._drift_cache = DetectorCache(self.settings.home / "cache" / "drift",
                                              threshold=thresholds.drift,
                                              false_alarm_rate=thresholds.false_alarm_rate)

        def predict(texts: Sequence[str]) -> Any:
            return spam_probability(model, texts)

        def build() -> DriftDetector:
            # The version's own datasets (its lineage), not the default UCI download: a
            # model trained on an imported dataset is monitored against what it learned.
            names, expected = lineage_datasets(self.registry.version(version).tags)
            split = self.datasets.split(names, expected=expected)
            try:
                reference = self.registry.reference_texts(version)
            except ModelNotFound:  # dropped by retention (engine/retention.py)
                logger.warning("version %s has no drift reference left; using the training "
                               "split's texts", version)
                reference = split.train_texts
            return DriftDetector.fit(
                reference,
                feature_space=word_subspace(feature_space(model)), predict_proba=predict,
                prior_probabilities=predict(split.test_texts),
                threshold=thresholds.drift, false_alarm_rate=thresholds.false_alarm_rate,
                seed=self.settings.seed, model_version=version)

        accepted = self._accepted_windows(version)

        def extend(base: DriftDetector) -> DriftDetector:
            windows = []
            for w in accepted:
                frame = self.store.predictions_between(w.window_start, w.window_end, limit=w.n)
                texts = frame["text"].tolist()
                logged = frame["model_version"] == version
                proba = (frame["spam_probability"].tolist() if bool(logged.all())
                         else [float(p) for p in predict(texts)])
                windows.append(AcceptedWindow(w.id, tuple(texts), tuple(proba)))
            return base.with_baseline(windows)

        key = "+".join(w.id for w in accepted)
        return self._drift_cache.get(version, build, baseline_key=key,
                                     extend=extend).with_predictor(predict)

    def _accepted_windows(self, version: int) -> list[BaselineWindow]:
        """The champion's accepted drift baseline ([] before migration 005 on a reader)."""
        if not self.settings.db_path.exists():
            return []
        if self.read_only and self.store.schema_version() < BASELINE_SCHEMA:
            return []
        return self.store.baseline_windows(version)

    def baseline(self, version: int | None = None) -> BaselineView:
        """The accepted drift baseline of ``version`` (default: the champion), reset ones too."""
        champion = version if version is not None else self.registry.require_champion()
        windows = [] if not self.settings.db_path.exists() else \
            self.store.baseline_windows(champion, include_reset=True)
        return BaselineView(champion, tuple(windows))

    def reset_baseline(self, *, actor: str | None = None,
                       version: int | None = None) -> BaselineView:
        """Drop the accepted windows of ``version`` (default: the champion); audited."""
        from engine.baseline import Baseline

        champion = version if version is not None else self.registry.require_champion()
        Baseline(self.store, self.clock).reset(champion, actor=self._actor(actor))
        return self.baseline(champion)

    def drift_reports(self, current: Sequence[tuple[str, Sequence[str]]],
                      reference: Sequence[str] | None = None,
                      min_window: int | None = None) -> list[DriftReport]:
        """Drift of each ``(source, texts)`` window, in order, against ``reference``.

        Without ``reference`` the champion's training texts are the reference, in its feature
        space. With one, no model is needed: the feature space is fitted on ``reference`` and
        prediction drift uses the champion when there is one. A window smaller than
        ``min_window`` (default ``monitoring.min_window``) is scored but recommended
        ``INSUFFICIENT_DATA``, with the reason (``rules.window_verdict``), as the monitor does.
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
                model = self.registry.load(version)

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
            self._drift_cache.save(detector.model_version, detector.baseline_key)
        from engine.rules import window_verdict

        least = self.settings.monitoring.min_window if min_window is None else min_window
        judged = []
        for report in reports:
            recommendation, reason = window_verdict(report.n, report.text_drift, least)
            judged.append(replace(report, recommendation=recommendation,
                                              reason=reason))
        return judged

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
                              dataset=ChampionDatasets(self.datasets, self._champion_tags),
                              detector_for=self.drift_detector,
                              clock=self.clock, log=self.monitor_log,
                              switch=self.champion_switch)
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
        """The monitoring (interval), retraining (cron) and retention (daily) jobs."""
        from engine.scheduling import default_jobs

        def monitor_job(ctx: JobContext) -> str:
            result = self.check_now(trigger="schedule" if ctx.trigger == "schedule"
                                    else "operator")
            return f"{result.decision.decision}: {result.decision.outcome}"

        def retrain_job(ctx: JobContext) -> str:
            outcome = self.retrain(trigger="schedule" if ctx.trigger == "schedule"
                                   else "operator")
            return f"{outcome.deployment.decision}: {outcome.event.reasoning}"

        def prune_job(ctx: JobContext) -> str:
            report = self.prune(actor="scheduler")
            return (f"{report.texts_pruned} texts pruned, drift references of "
                    f"{list(report.references_dropped)} dropped")

        return default_jobs(self.settings, monitor_job, retrain_job, start=start,
                            prune_fn=prune_job)

    def scheduler_holder(self) -> HolderInfo | None:
        """Which process holds this data home's scheduler, if any."""
        from engine.scheduling import SchedulerLock

        return SchedulerLock.for_home(self.settings.home).holder()

    def health(self, wait: float = 0.0) -> Health:
        """Champion serving, store answering, scheduler holder: never raises; never waits
        unless asked to.

        Everything comes from state kept by background work (the champion cache's checks,
        ``StoreProbe``), so ``/health`` answers at once even while another process holds the
        database or the registry is slow; a probe that is due starts in the background.

        Args:
            wait: seconds to wait for the store's first probe result, if there is none yet
                (the API's start-up; ``/health`` itself passes 0).
        """
        problems: list[str] = []
        version: int | None = None
        if not self._registry_exists():
            problems.append("no champion model yet: run `spamops train`")
        else:
            champion = self.champion.status()
            version = champion.version
            problems.extend(_champion_problems(champion))
        probe = self._store_probe.status(wait)
        if probe.problem:
            problems.append(probe.problem)
        # The holder file is a few bytes on local disk, read without any lock: no waiting.
        return Health(model_version=version, store_reachable=probe.reachable,
                      scheduler_holder=self.scheduler_holder(), problems=tuple(problems))

    # Traffic simulation ------------------------------------------------------------------
    def simulate(self, *, messages: int, drift: float = 0.0, label_rate: float = 0.0,
                 seed: int = 42, label_delay: timedelta = timedelta(0), batch: int = 500,
                 source: str = "simulate", progress: Progress | None = None,
                 families: Sequence[str] | None = None) -> SimulationResult:
        """Score ``messages`` held-out clean messages mixed with a share ``drift`` of drifted
        ones exactly as the API would, and file true labels for a share ``label_rate``.

        Labels are dated ``label_delay`` after their prediction (late feedback); ``families``
        limits the drifted share to those ``engine.traffic`` families (default: all).
        """
        import random

        from engine.traffic import FAMILIES, mix

        if messages < 1:
            raise InvalidInput("--messages must be at least 1")
        if not 0 <= drift <= 1 or not 0 <= label_rate <= 1:
            raise InvalidInput("--drift and --label-rate must be between 0 and 1")
        split = self.dataset.split()
        window = mix(split.test_texts, split.test_labels, n=messages, fraction=drift, seed=seed,
                     families=tuple(families) if families else FAMILIES)
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
                live_accuracy_unreliable=bool(latest_measured
                                              and latest_measured.accuracy_unreliable),
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

    # Operating the home (issue 18): backup, restore, retention ---------------------------
    def backup(self, target: Path) -> BackupReport:
        """Write a verified, consistent backup of this home into ``target`` (see
        ``engine.backup``); audited in this home."""
        from engine.backup import backup_home

        report = backup_home(self.settings, self.store, target)
        self.audit("home.backup", str(report.directory), {
            "tables": report.tables, "model_versions": report.model_versions,
            "files": report.files, "bytes": report.bytes},
            f"backup of {report.files} files written to {report.directory} and verified")
        return report

    def record_restore(self, report: RestoreReport) -> AuditVerification:
        """After ``engine.backup.restore_home``: upgrade the schema, ingest the restored
        spool, audit the restore, and verify the audit chain."""
        self.store.migrate()
        self.audit("home.restore", str(report.home), {
            "backup": str(report.backup), "backup_created_at": report.backup_created_at,
            "files": report.files, "replaced": str(report.replaced or "")},
            f"home restored from the backup of {report.backup_created_at}")
        return self.store.verify_audit()

    def prune(self, *, dry_run: bool = False, actor: str | None = None) -> PruneReport:
        """Apply the retention policy now (``engine.retention``); every prune (not a dry run)
        is audited, also one that found nothing to remove."""
        from engine import retention

        registry = self.registry if self._registry_exists() else None
        report = retention.prune(settings=self.settings, store=self.store, registry=registry,
                                 now=self.clock.now(), dry_run=dry_run)
        if not report.dry_run:
            self.audit("retention.prune", "predictions", {
                "cutoff": report.cutoff.isoformat(timespec="seconds"),
                "text_days": report.text_days, "texts_pruned": report.texts_pruned,
                "evaluation_texts_dropped": report.evaluation_texts_dropped,
                "references_dropped": list(report.references_dropped),
                "caches_dropped": report.caches_dropped, "changed": report.changed},
                f"{report.texts_pruned} texts older than {report.text_days} days replaced by "
                "their keyed hash; "
                f"drift references kept only for v{list(report.references_kept)}", actor)
        return report

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

            with self._store_lock:  # never waits for the database (the API's start-up)
                store = self._store or self._unopened_store()
            self._sender = OutboxSender(store, self.settings.notify)
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

        Whether the newest estimate is unreliable is the check's own verdict
        (``Decision.accuracy_unreliable``: the confidence-based estimate assumes the model is
        calibrated on this traffic, which drift breaks).
        """
        holder = self.scheduler_holder() is not None
        interval = self.settings.monitoring.interval_minutes * 60
        floor = self.settings.thresholds.accuracy_floor
        if not self._store_exists():
            return AlertGauges(None, interval, None, True, floor, False, 0, None, 0, 0, holder,
                               ())
        decisions = self.store.decisions(50)
        with_accuracy = next((d for d in decisions if d.accuracy is not None), None)
        unreliable = (with_accuracy is not None and with_accuracy.accuracy_is_estimate
                      and with_accuracy.accuracy_unreliable)
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

def _expect(current: Aliases, expected_champion: int | None) -> None:
    """Refuse a move decided on another champion than the one there now."""
    if expected_champion is not None and current.get(CHAMPION) != expected_champion:
        from engine.errors import ConflictError

        now = current.get(CHAMPION)
        raise ConflictError(f"the champion is v{now} now, not v{expected_champion} as when "
                            "this was decided; look again and retry" if now is not None else
                            f"there is no champion now, not v{expected_champion} as when this "
                            "was decided")


def _champion_problems(status: ChampionStatus) -> list[str]:
    """``/health`` lines for the champion cache's state (none when it serves the alias)."""
    if status.version is None:
        return [status.error or "the champion model is loading"]
    if status.wanted is not None and status.error:
        return [f"champion v{status.wanted} failed to load ({status.error}); still serving "
                f"v{status.version}, retrying in the background"]
    if status.error:
        return [f"champion check failed ({status.error}); still serving v{status.version}"]
    return []


@dataclass(frozen=True)
class ProbeStatus:
    """The history store as the last background probe found it."""

    reachable: bool
    problem: str | None


class StoreProbe:
    """Checks the history store off the caller's thread.

    ``status()`` returns at once: the last result, or, while a probe has been waiting for
    longer than ``BUSY_AFTER_SECONDS`` (another process holds the file), "busy". A probe
    starts when the last result is older than ``PROBE_SECONDS``.
    """

    PROBE_SECONDS = 2.0
    BUSY_AFTER_SECONDS = 0.25

    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._result: ProbeStatus | None = None
        self._at = float("-inf")
        self._started: float | None = None
        self._done = threading.Event()

    def status(self, wait: float = 0.0) -> ProbeStatus:
        """The latest known state; starts a probe when one is due.

        Args:
            wait: with no result yet, wait up to this long for the first one.
        """
        now = time.monotonic()
        if now - self._at >= self.PROBE_SECONDS and self._lock.acquire(blocking=False):
            self._started = now
            self._done.clear()
            threading.Thread(target=self._probe, daemon=True, name="spamops-probe").start()
        if self._result is None and wait > 0:
            self._done.wait(wait)
        started, result = self._started, self._result
        if started is not None and time.monotonic() - started > self.BUSY_AFTER_SECONDS:
            waited = time.monotonic() - started
            return ProbeStatus(False, f"history database busy: another process holds it "
                               f"(waiting {waited:.0f} s); predictions wait in the spool")
        if result is None:
            return ProbeStatus(False, "history database not checked yet")
        return result

    def _probe(self) -> None:
        services = self._services
        try:
            if not services._store_exists():
                raise StoreError("no history database yet: run `spamops setup-database`")
            store = services._store
            if store is None:
                if not services.read_only and services._opener is not None:
                    raise StoreError("history database not open yet (another process holds "
                                     "it, or it is being migrated); predictions wait in the "
                                     "spool")
                store = services.store
            store.schema_version()
            result = ProbeStatus(True, None)
        except SpamopsError as exc:
            result = ProbeStatus(False, str(exc).splitlines()[0])
        except Exception as exc:  # the probe must never die silently
            result = ProbeStatus(False, f"store check failed: {exc}")
        self._result = result
        self._at = time.monotonic()
        self._started = None
        self._done.set()
        self._lock.release()
