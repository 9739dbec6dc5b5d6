"""Scoring and the history it leaves: predictions, feedback, SQL, export, the audit trail.

Owns ``predict`` (the champion scores, the spool logs, never waiting for the database),
feedback and label imports, the analyst's read-only SQL and Parquet export, reading and
verifying the audit chain, and ``simulate`` (synthetic traffic through ``predict``). It must
not move the champion and must not open DuckDB except through ``Store``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from engine.errors import InvalidInput
from engine.records import (
    AuditRecord,
    AuditVerification,
    FeedbackRecord,
    LabelImport,
    LabelItem,
    PredictionRecord,
    QueryResult,
)
from engine.services.core import ServicesBase
from engine.services.results import (
    MAX_TEXT_CHARS,
    Prediction,
    Progress,
    SimulationResult,
)
from engine.training import spam_probability


class HistoryMixin(ServicesBase):
    """Predictions, feedback, analyst access and the audit trail."""


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
            if "\x00" in text:  # PostgreSQL's text cannot hold it: refused on every backend
                raise InvalidInput("a message must not contain a NUL character (U+0000)")
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

    def sql_batches(self, query: str,
                    limit: int | None = None) -> Generator[QueryResult, None, None]:
        """``sql`` streamed in bounded batches (``Store.sql_batches``); close it when done."""
        return self.store.sql_batches(query, limit)

    def export(self, directory: Path) -> list[Path]:
        """Write the history as Parquet partitioned by day; returns the table folders."""
        return self.store.export_parquet(directory)

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
