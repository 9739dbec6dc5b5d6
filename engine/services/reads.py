"""The reads the UIs show: decisions, drift history, the overview, daily aggregates, gauges.

Owns the nouns of the facade: small records read from the store (aggregation runs in DuckDB)
and the registry, composed for the console's overview, the dashboard's cards and charts, and
the Prometheus alert gauges. A fresh data home without a database reads as empty, never as an
error. It must not write anything.
"""

from __future__ import annotations

from datetime import datetime

from engine.errors import SpamopsError
from engine.records import (
    DailyAccuracy,
    DailyTraffic,
    Decision,
    DriftSnapshot,
    JobRun,
    RetrainingEvent,
)
from engine.services.core import ServicesBase
from engine.services.results import (
    AlertGauges,
    ChampionCard,
    MetricsReadings,
    Overview,
)


class ReadsMixin(ServicesBase):
    """Read-only views of the history and the registry."""


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
            receivers=tuple(self.store.receiver_health()),
            spool_rejected_segments=self.store.rejected_segments())

    def metrics_readings(self) -> MetricsReadings:
        """What a ``/metrics`` scrape exports: health, the audit anchor, the alert gauges and
        the newest drift snapshot, the database read through one connection
        (``Store.reading``) instead of one per table. Never raises: a store that cannot be
        read leaves ``gauges`` and ``latest_snapshot`` None with the reason in ``problem``.
        """
        health = self.health()
        audit = self.audit_head_anchored()
        gauges: AlertGauges | None = None
        snapshot: DriftSnapshot | None = None
        problem: str | None = None
        if health.store_reachable:
            try:
                if self._store_exists():
                    with self.store.reading():
                        gauges = self.alert_gauges()
                        snapshot = self.store.latest_snapshot()
                else:
                    gauges = self.alert_gauges()
            except SpamopsError as exc:
                problem = str(exc)
        store = self._spool_store  # the same object as self._store, once built
        opened = store.connections_opened if store is not None else 0
        return MetricsReadings(health=health, audit_records=audit, gauges=gauges,
                               latest_snapshot=snapshot, store_connections=opened,
                               problem=problem)
