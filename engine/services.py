"""The facade every UI calls: reads are nouns, commands are verbs.

``Services`` is built once per process from ``Settings`` (and a ``Clock``) and handed to the
CLI, the console, the API and the dashboard. It composes the engine modules; it holds no
business rule of its own beyond ordering the steps. Results are frozen dataclasses.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, SystemClock
from engine.config import Settings
from engine.dataset import Dataset, DatasetInfo, DatasetSplit
from engine.errors import InvalidInput
from engine.records import (
    AuditRecord,
    AuditVerification,
    FeedbackRecord,
    PredictionRecord,
    QueryResult,
)
from engine.registry import AliasMove, ModelVersionInfo, Registry
from engine.training import TrainingData, TrainingResult, spam_probability

if TYPE_CHECKING:
    from engine.drift import DetectorCache, DriftDetector, DriftReport
    from engine.store import Store

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
class TrainOutcome:
    """What ``train`` did: the new version, its metrics, and whether it became champion."""

    result: TrainingResult
    champion_version: int
    became_champion: bool


class ChampionCache:
    """The champion pipeline, re-checking the alias at most every ``refresh_seconds``.

    Serving follows the ``champion`` alias without restart: a promotion made by any process is
    picked up on the next check, and requests keep using the old model until the new one is
    loaded, so none fails during the switch.
    """

    def __init__(self, registry: Registry, refresh_seconds: float) -> None:
        self._registry = registry
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._current: tuple[int, Any] | None = None
        self._checked = 0.0

    def get(self) -> tuple[int, Any]:
        """The current champion (version, model)."""
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._checked < self._refresh:
            return current
        with self._lock:
            if self._current is not None and now - self._checked < self._refresh:
                return self._current
            version = self._registry.require_champion()
            if self._current is None or self._current[0] != version:
                self._current = (version, self._registry.load(version))
            self._checked = time.monotonic()
            return self._current

    def invalidate(self) -> None:
        """Force a re-check on the next ``get`` (after this process moved an alias)."""
        self._checked = 0.0


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
        self._store_lock = threading.Lock()
        self._drift_cache: DetectorCache | None = None

    @property
    def store(self) -> Store:
        """The history store, opened on first use (read-write stores migrate first)."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    from engine.store import Store  # lazily: keeps duckdb out of start-up

                    store = Store(self.settings.db_path, self.settings.spool_dir,
                                  clock=self.clock, read_only=self.read_only,
                                  flush_seconds=self.settings.server.log_flush_seconds)
                    if not self.read_only:
                        store.migrate()
                    self._store = store
        return self._store

    def close(self) -> None:
        """Release resources held by this process (ingest the prediction spool)."""
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
        from engine.training import train_and_log

        split = self.dataset.split(progress)
        data = TrainingData(split.train_texts, split.train_labels, split.test_texts,
                            split.test_labels, split.fingerprint, {"trigger": trigger})
        self.settings.home.mkdir(parents=True, exist_ok=True)
        result = train_and_log(
            data, tracking_uri=self.settings.tracking_uri, experiment="spamops",
            model_name=self.settings.model_name,
            artifact_location=str(self.settings.artifacts_dir.resolve()),
            seed=self.settings.seed, progress=progress)
        became = self.registry.adopt_first(result.version)
        self.champion.invalidate()
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
        self.champion.invalidate()
        self.audit("promote", f"v{version}", {"champion": move.champion,
                                              "previous": move.previous,
                                              "demoted": move.demoted}, reasoning, actor=actor)
        return move

    def rollback(self, *, actor: str | None = None,
                 reasoning: str = "rolled back by an operator") -> AliasMove:
        """Swap champion and previous."""
        move = self.registry.rollback()
        self.champion.invalidate()
        self.audit("rollback", f"v{move.champion}", {"champion": move.champion,
                                                     "previous": move.previous,
                                                     "demoted": move.demoted},
                   reasoning, actor=actor)
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
              actor: str | None = None) -> AuditRecord:
        """Append a record to the audit trail (actor defaults to the operator name)."""
        return self.store.append_audit(actor or self.settings.operator_name, action, subject,
                                       details, reasoning)

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
