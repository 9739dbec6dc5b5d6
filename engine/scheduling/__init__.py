"""When jobs run, in which process, and the record of every run.

This module owns the scheduled jobs (``JobSpec``, ``default_jobs``), the single-holder lock of
a history (``SchedulerLock``: ``fcntl.flock`` on ``<home>/locks/scheduler.lock`` plus a
holder file saying who holds it, for a DuckDB store; ``AdvisorySchedulerLock``: a PostgreSQL
session-level advisory lock shared by every host, for a PostgreSQL store), the host that runs
APScheduler 3 in whichever process holds that lock and stands by in every other one
(``SchedulerHost``), and a deterministic scheduler for simulated time (``SimulatedScheduler``,
for the demo). Every run, real or simulated, scheduled or manual, goes through one recording
wrapper that turns it into ``JobRun`` records.

It is the only module that imports ``apscheduler``; nothing the CLI imports at start-up may
import it (commands import this module lazily). It must not know what the jobs do (the
monitoring cycle and retraining are callables handed in), must not open the store itself (it
writes through a ``JobRecorder``), and must never let a failing job, recorder or event
callback stop the scheduler.

One module per concern: ``jobs`` (job specs, default jobs, crontabs), ``lock`` (the
single-holder lock and its holder file), ``runs`` (the recording wrapper, events, status),
``host`` (``SchedulerHost``), ``simulated`` (``SimulatedScheduler``).
"""

from engine.scheduling.host import SchedulerHost
from engine.scheduling.jobs import (
    PRUNE_CRON,
    JobContext,
    JobFunction,
    JobRecorder,
    JobSpec,
    Outcome,
    Trigger,
    crontab_trigger,
    default_jobs,
)
from engine.scheduling.lock import (
    HOLDER_FILE,
    LOCK_FILE,
    AdvisorySchedulerLock,
    HolderInfo,
    HolderLock,
    SchedulerLock,
)
from engine.scheduling.runs import (
    DETAIL_MAX_CHARS,
    EventSink,
    JobStatus,
    SchedulerEvent,
    SchedulerStatus,
)
from engine.scheduling.simulated import SimulatedScheduler

__all__ = [
    "DETAIL_MAX_CHARS",
    "HOLDER_FILE",
    "LOCK_FILE",
    "PRUNE_CRON",
    "AdvisorySchedulerLock",
    "EventSink",
    "HolderInfo",
    "HolderLock",
    "JobContext",
    "JobFunction",
    "JobRecorder",
    "JobSpec",
    "JobStatus",
    "Outcome",
    "SchedulerEvent",
    "SchedulerHost",
    "SchedulerLock",
    "SchedulerStatus",
    "SimulatedScheduler",
    "Trigger",
    "crontab_trigger",
    "default_jobs",
]
