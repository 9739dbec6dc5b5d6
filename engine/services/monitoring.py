"""The monitoring cycle, retraining, approvals and the scheduler that runs them.

Owns the facade's side of ``engine.monitoring.Monitor`` (built once per process, interrupted
retrains marked on creation), the manual check/retrain verbs, approvals, and the scheduler
host with its jobs (monitoring interval, retraining cron, daily retention prune; a takeover
is audited and notified). It must not implement the cycle (``engine.monitoring``) nor the
scheduling (``engine.scheduling``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.datasets import ChampionDatasets
from engine.records import Approval
from engine.services.core import ServicesBase
from engine.services.results import Progress

if TYPE_CHECKING:
    from engine.monitoring import CheckResult, Monitor, RetrainResult
    from engine.scheduling import JobContext, JobSpec, SchedulerEvent, SchedulerHost


class MonitoringMixin(ServicesBase):
    """Checks, retrains, approvals and scheduled jobs."""

    isolate_heavy_work = False
    """Run checks and retrains in a child process (``engine.isolation``), so their memory
    peak leaves with it. Long-lived processes (``spamops serve``, ``spamops monitor``) set
    it; short-lived commands and tests run them in-process."""

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

    def check_now(self, *, trigger: str = "operator", actor: str | None = None,
                  retrain: bool = True, progress: Progress | None = None) -> CheckResult:
        """Run one monitoring cycle now (and a retrain when the rules say so)."""
        if self.isolate_heavy_work:
            checked: CheckResult = self._in_child(
                "check_now", {"trigger": trigger, "actor": actor, "retrain": retrain}, progress)
            return checked
        actor_name = "scheduler" if trigger == "schedule" else self._actor(actor)
        return self.monitor.check(trigger=trigger, actor=actor_name, retrain=retrain,
                                  progress=progress)

    def retrain(self, *, trigger: str = "operator", actor: str | None = None,
                progress: Progress | None = None) -> RetrainResult:
        """Train a challenger now, compare it and deploy, keep or queue it for approval."""
        if self.isolate_heavy_work:
            retrained: RetrainResult = self._in_child(
                "retrain", {"trigger": trigger, "actor": actor}, progress)
            return retrained
        actor_name = "scheduler" if trigger == "schedule" else self._actor(actor)
        return self.monitor.retrain(trigger=trigger, actor=actor_name,
                                    reasons=(f"Retrain requested ({trigger}) by {actor_name}.",),
                                    progress=progress)

    def _in_child(self, operation: str, kwargs: dict[str, Any],
                  progress: Progress | None) -> Any:
        """``operation`` run by a fresh ``Services`` in a child process (``engine.isolation``);
        then the champion cache re-reads the aliases, which the child may have moved."""
        from engine.isolation import run_in_child

        try:
            return run_in_child(self.settings, operation, kwargs, progress=progress,
                                log_line=self.monitor_log.relay)
        finally:
            self.champion.refresh()

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

    def scheduler(self, *, kind: str, mode: str = "background",
                  on_event: Callable[[SchedulerEvent], None] | None = None) -> SchedulerHost:
        """A scheduler host running the monitoring and retraining jobs of this data home."""
        from engine.scheduling import SchedulerHost

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

        monitoring = self.settings.monitoring
        return SchedulerHost(self.scheduled_jobs(), self.store, self.scheduler_lock(), self.clock,
                             kind=kind, mode=mode,  # type: ignore[arg-type]
                             misfire_grace_seconds=monitoring.misfire_grace_seconds,
                             on_event=relay, retry_seconds=monitoring.takeover_seconds / 6)

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
