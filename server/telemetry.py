"""Prometheus metrics of one app: its own ``CollectorRegistry`` (never the global one, so two
apps in one process, as in tests, never share counters).

``MetricsMiddleware`` counts requests and times them by route template (``/approvals/{id}/
approve``, never the raw path, and ``unmatched`` for unknown paths, so fuzzing cannot grow the
label set). ``ServingCollector`` reads the champion version and the latest drift scores from
``Services`` at scrape time (``Services.metrics_readings``: one call, one store connection), the
connections this process opened to the store, and the gauges the shipped alert rules
(``deploy/prometheus/spamops-rules.yml``) watch: the last check's time and accuracy, pending
approvals, the spool backlog, the scheduler holder and the webhook receivers. Under several
worker processes (``PROMETHEUS_MULTIPROC_DIR`` set by ``spamops serve --workers``),
``prometheus_client`` keeps every worker's counters in that directory and the exposition adds
them up, whichever worker answers the scrape. This module must not hold business logic.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from engine.services import AlertGauges, Prediction, Services

logger = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Set (by ``spamops serve --workers``) when several worker processes share the metrics: the
directory where ``prometheus_client`` keeps every worker's counters."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                   30.0)


class ServingCollector(Collector):
    """Champion version and current drift scores, read when Prometheus scrapes."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._audit_records = 0

    def describe(self) -> Iterable[Metric]:
        # Declaring no names keeps registration free of service calls (no I/O at app creation).
        return []

    def collect(self) -> Iterator[Metric]:
        # One service call, one store connection per scrape (it was one per table read).
        readings = self._services.metrics_readings()
        champion = GaugeMetricFamily("spamops_champion_version",
                                     "Model version serving predictions (0: none yet).")
        champion.add_metric([], float(readings.health.model_version or 0))
        yield champion
        # Read from the monitor log's anchors, not the database, and never lowered while this
        # process lives: once scraped, Prometheus keeps it where a rewrite of the database (or
        # of the log) cannot reach. `spamops audit verify --metrics-url` checks against it.
        self._audit_records = max(self._audit_records, readings.audit_records)
        yield CounterMetricFamily("spamops_audit_records", "Records in the audit chain, as "
                                  "anchored in the monitor log.",
                                  value=float(self._audit_records))
        yield CounterMetricFamily("spamops_store_connections_opened", "Connections this "
                                  "process opened to the history database.",
                                  value=float(readings.store_connections))
        if readings.problem is not None:
            logger.warning("metrics: history not read: %s", readings.problem)
        if readings.gauges is not None:
            yield from alert_metrics(readings.gauges)
        snapshot = readings.latest_snapshot
        if snapshot is None:
            return
        drift = GaugeMetricFamily("spamops_drift_score",
                                  "Latest drift snapshot, by statistic.", labels=["statistic"])
        drift.add_metric(["combined"], snapshot.drift_score)
        drift.add_metric(["vocabulary"], snapshot.vocabulary_drift)
        drift.add_metric(["tfidf"], snapshot.tfidf_drift)
        if snapshot.prediction_drift is not None:
            drift.add_metric(["prediction"], snapshot.prediction_drift)
        yield drift
        yield GaugeMetricFamily("spamops_drift_threshold", "Drift score above which drift is "
                                "detected.", value=snapshot.threshold)
        yield GaugeMetricFamily("spamops_drift_detected", "1 when the latest snapshot detected "
                                "drift.", value=float(snapshot.drift_detected))
        yield GaugeMetricFamily("spamops_drift_window_size", "Messages in the latest drift "
                                "window.", value=float(snapshot.n))


def _epoch(ts: datetime) -> float:
    return ts.replace(tzinfo=UTC).timestamp()


def alert_metrics(g: AlertGauges) -> Iterator[Metric]:
    """The gauges behind the shipped alert rules (one family each; absent when unknown)."""
    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, value=value)

    yield gauge("spamops_check_interval_seconds", "Configured seconds between scheduled "
                "monitoring checks.", g.check_interval_seconds)
    if g.last_check_at is not None:
        yield gauge("spamops_last_check_timestamp_seconds", "Unix time of the newest "
                    "monitoring decision.", _epoch(g.last_check_at))
    yield gauge("spamops_accuracy_floor", "Accuracy below which the rules retrain.",
                g.accuracy_floor)
    if g.accuracy is not None:
        accuracy = GaugeMetricFamily("spamops_accuracy", "The newest check's champion "
                                     "accuracy, measured on labels or estimated.",
                                     labels=["kind"])
        accuracy.add_metric(["estimated" if g.accuracy_is_estimate else "measured"],
                            g.accuracy)
        yield accuracy
        yield gauge("spamops_accuracy_estimate_unreliable", "1 when the newest accuracy is "
                    "an estimate made on a drifted window.",
                    float(g.accuracy_estimate_unreliable))
    yield gauge("spamops_pending_approvals", "Challengers waiting for an operator.",
                float(g.pending_approvals))
    if g.oldest_pending_approval_at is not None:
        yield gauge("spamops_oldest_pending_approval_timestamp_seconds", "Unix time the "
                    "oldest pending approval was created.", _epoch(g.oldest_pending_approval_at))
    yield gauge("spamops_spool_backlog_segments", "Prediction spool segments not yet "
                "ingested (every process's).", float(g.spool_segments))
    yield gauge("spamops_spool_backlog_bytes", "Bytes of prediction spool segments not yet "
                "ingested.", float(g.spool_bytes))
    yield gauge("spamops_spool_rejected_segments", "Files of spool rows the store refused "
                "for their content, waiting in spool/rejected/ for an operator.",
                float(g.spool_rejected_segments))
    yield gauge("spamops_scheduler_holder_present", "1 when some process holds the data "
                "home's scheduler.", float(g.scheduler_holder_present))
    if g.receivers:
        deliveries = GaugeMetricFamily("spamops_webhook_deliveries", "Webhook deliveries by "
                                       "receiver and state (pending includes retrying; failed: "
                                       "given up since the last success).",
                                       labels=["receiver", "state"])
        failing = GaugeMetricFamily("spamops_webhook_receiver_failing", "1 when the receiver "
                                    "is being retried or was given up on.", labels=["receiver"])
        for r in g.receivers:
            deliveries.add_metric([r.receiver, "pending"], float(r.pending))
            deliveries.add_metric([r.receiver, "retrying"], float(r.retrying))
            deliveries.add_metric([r.receiver, "failed"], float(r.failed))
            failing.add_metric([r.receiver], float(r.failing))
        yield deliveries
        yield failing


class ApiMetrics:
    """The metrics of one app and its registry."""

    def __init__(self, services: Services) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("spamops_http_requests", "HTTP requests handled.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("spamops_http_request_duration_seconds",
                                 "Time to answer an HTTP request.", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.predictions = Counter("spamops_predictions", "Messages scored, by predicted label.",
                                   ["label"], registry=self.registry)
        for label in ("ham", "spam"):
            self.predictions.labels(label)
        self._serving = ServingCollector(services)
        self.registry.register(self._serving)
        self._multiprocess_dir = os.environ.get(MULTIPROCESS_ENV)

    def count_predictions(self, predictions: Sequence[Prediction]) -> None:
        """Count scored messages by label."""
        spam = sum(p.label == "spam" for p in predictions)
        if spam:
            self.predictions.labels("spam").inc(spam)
        if len(predictions) - spam:
            self.predictions.labels("ham").inc(len(predictions) - spam)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of everything above (all workers' counters)."""
        if not self._multiprocess_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=self._multiprocess_dir)
        registry.register(self._serving)
        return generate_latest(registry)


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
