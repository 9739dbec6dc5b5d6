"""Job runs: the one recording wrapper, and the events and status a UI is shown.

Owns ``RunRecorder`` (every run, real or simulated, scheduled or manual, becomes ``JobRun``
records: ``running``, then ``ok``, ``failed`` or ``skipped``; a per-job guard, across
processes through ``job-<id>.lock``, skips a run of a job already running), and
``SchedulerEvent``, ``JobStatus``, ``SchedulerStatus``. It must never let a failing job,
recorder or event callback escape.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from engine.clock import Clock
from engine.errors import ConflictError
from engine.locks import try_flock
from engine.records import JobRun
from engine.scheduling.jobs import (
    JobContext,
    JobRecorder,
    JobSpec,
    Outcome,
    Trigger,
)
from engine.scheduling.lock import HolderInfo, this_process_label

logger = logging.getLogger("spamops.scheduling")

DETAIL_MAX_CHARS = 500
"""A run's detail is one line; longer ones are cut here."""


@dataclass(frozen=True)
class SchedulerEvent:
    """Something a UI may want to show: a state change or a recorded run.

    Delivered from scheduler and worker threads (also in asyncio mode, where jobs run in the
    loop's thread pool): a Textual app must hop back with ``call_from_thread``/``post_message``.
    """

    kind: Literal["active", "standby", "run", "stopped"]
    message: str
    run: JobRun | None = None
    """For ``run``: the record just written (``running`` first, then the outcome)."""
    holder: HolderInfo | None = None
    """For ``active`` and ``standby``: who holds the scheduler."""


@dataclass(frozen=True)
class JobStatus:
    """One job as a status display shows it."""

    id: str
    next_run_time: datetime | None
    """Naive UTC; ``None`` while this process is not the active scheduler."""
    description: str


@dataclass(frozen=True)
class SchedulerStatus:
    """Whether this process runs the schedule, and if not, who does."""

    active: bool
    """This process holds the lock and its scheduler is running."""
    standby: bool
    """Another process holds the lock; this one retries and takes over when it goes away."""
    holder: HolderInfo | None
    jobs: tuple[JobStatus, ...]

    def describe(self) -> str:
        """One line, e.g. ``standby: scheduler held by console on box (pid 7) since ...``."""
        if self.active:
            return "active" + (f": {self.holder.describe()}" if self.holder else "")
        if self.standby:
            held = self.holder.describe() if self.holder else "another process (unknown)"
            return f"standby: scheduler held by {held}"
        return "stopped"


EventSink = Callable[[SchedulerEvent], None]


def one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:DETAIL_MAX_CHARS]


class RunRecorder:
    """Runs a job and records it: ``running`` at start, then ``ok`` or ``failed``.

    Shared by ``SchedulerHost`` and ``SimulatedScheduler`` so both write identical records.
    A per-job guard makes a run that finds the same job still running a ``skipped`` record;
    that is what stops a manual retrain from starting during a scheduled one. With a lock
    directory the guard also spans processes (``job-<id>.lock``), so a standby process's
    ``run_now`` never runs a job the active scheduler is running.
    """

    def __init__(self, jobs: Sequence[JobSpec], recorder: JobRecorder, clock: Clock,
                 on_event: EventSink | None, lock_dir: Path | None = None) -> None:
        ids = [spec.id for spec in jobs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"job ids must be unique, got {ids}")
        self.jobs = {spec.id: spec for spec in jobs}
        self.recorder = recorder
        self.clock = clock
        self.holder = this_process_label()
        self._on_event = on_event
        self._busy = {spec.id: threading.Lock() for spec in jobs}
        self._lock_dir = lock_dir

    def spec(self, job_id: str) -> JobSpec:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise KeyError(f"no job {job_id!r}; jobs are {sorted(self.jobs)}") from None

    def run(self, job_id: str, *, scheduled_at: datetime | None, trigger: Trigger) -> JobRun:
        spec = self.spec(job_id)
        busy = self._busy[job_id]
        if not busy.acquire(blocking=False):
            return self.record_outcome(job_id, scheduled_at, "skipped",
                                       "skipped: the previous run is already running")
        job_fd = self._job_lock(job_id)
        if job_fd is False:
            busy.release()
            return self.record_outcome(job_id, scheduled_at, "skipped",
                                       "skipped: the job is already running in another "
                                       "process of this data home")
        try:
            started = self.clock.now()
            run = JobRun(id=uuid.uuid4().hex, job=job_id, scheduled_at=scheduled_at,
                         started_at=started, finished_at=None, outcome="running",
                         detail=f"{trigger} run", holder=self.holder)
            self._record(run)
            context = JobContext(job_id, run.id, trigger, scheduled_at, started, self.clock)
            outcome: Outcome = "failed"
            detail = "interrupted"
            try:
                detail = one_line(str(spec.func(context)))
                outcome = "ok"
            except ConflictError as exc:
                # The same work is running elsewhere (a check or retrain of this data home in
                # another process): not a failure of this run.
                outcome, detail = "skipped", one_line(f"skipped: {exc}")
            except Exception as exc:
                logger.exception("job %s (run %s) failed", job_id, run.id)
                detail = one_line(f"{type(exc).__name__}: {exc}")
            finally:
                # Also reached on KeyboardInterrupt/SystemExit: the record then says failed.
                finished = JobRun(id=run.id, job=job_id, scheduled_at=scheduled_at,
                                  started_at=started, finished_at=self.clock.now(),
                                  outcome=outcome, detail=detail, holder=self.holder)
                self._record(finished)
            return finished
        finally:
            if not isinstance(job_fd, bool):
                os.close(job_fd)  # drops the flock
            busy.release()

    def _job_lock(self, job_id: str) -> int | bool:
        """Take ``<lock_dir>/job-<id>.lock`` without waiting: the descriptor, ``False`` when
        another process runs the job, ``True`` when there is no lock directory (simulated).

        The scheduler lock decides who *schedules*; this one stops a manual ``run_now`` in a
        standby process (console, API, CLI) from running a job the active holder is running.
        """
        if self._lock_dir is None:
            return True
        fd = try_flock(self._lock_dir / f"job-{job_id}.lock")
        return False if fd is None else fd

    def record_outcome(self, job_id: str, scheduled_at: datetime | None, outcome: Outcome,
                       detail: str) -> JobRun:
        """Record a run that never started (``skipped``, ``missed``); started_at is when noticed."""
        now = self.clock.now()
        run = JobRun(id=uuid.uuid4().hex, job=job_id, scheduled_at=scheduled_at, started_at=now,
                     finished_at=now, outcome=outcome, detail=one_line(detail),
                     holder=self.holder)
        self._record(run)
        return run

    def emit(self, event: SchedulerEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            logger.exception("scheduler event callback failed on %s", event.kind)

    def _record(self, run: JobRun) -> None:
        try:
            self.recorder.record_job_run(run)
        except Exception:
            # A busy or broken store must not stop the schedule; the log keeps the run.
            logger.exception("could not record job run %s (%s %s)", run.id, run.job, run.outcome)
        self.emit(SchedulerEvent("run", f"{run.job}: {run.outcome} {run.detail}".strip(), run=run))
