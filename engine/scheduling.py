"""When jobs run, in which process, and the record of every run.

This module owns the scheduled jobs (``JobSpec``, ``default_jobs``), the single-holder lock of
a data home (``SchedulerLock``: ``fcntl.flock`` on ``<home>/locks/scheduler.lock`` plus a
holder file saying who holds it), the host that runs APScheduler 3 in whichever process holds
that lock and stands by in every other one (``SchedulerHost``), and a deterministic scheduler
for simulated time (``SimulatedScheduler``, for the demo). Every run, real or simulated,
scheduled or manual, goes through one recording wrapper that turns it into ``JobRun`` records.

It is the only module that imports ``apscheduler``; nothing the CLI imports at start-up may
import it (commands import this module lazily). It must not know what the jobs do (the
monitoring cycle and retraining are callables handed in), must not open the store itself (it
writes through a ``JobRecorder``), and must never let a failing job, recorder or event
callback stop the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from apscheduler import events as aps_events
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.clock import Clock, SimulatedClock, utcnow
from engine.config import MonitoringSettings, Settings
from engine.errors import ConfigError, ConflictError
from engine.records import JobRun

logger = logging.getLogger("spamops.scheduling")

LOCK_FILE = "scheduler.lock"
"""Name of the flock'ed file inside the lock directory (``<home>/locks``)."""
HOLDER_FILE = "scheduler.holder.json"
"""Who holds the lock: host, pid, process kind, since; written only while held."""
DETAIL_MAX_CHARS = 500
"""A run's detail is one line; longer ones are cut here."""

Trigger = Literal["schedule", "manual"]
Outcome = Literal["running", "ok", "failed", "skipped", "missed"]


# Jobs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobContext:
    """What a job function is told about the run it is doing."""

    job_id: str
    run_id: str
    """Id of the ``JobRun`` that records this run."""
    trigger: Trigger
    """``schedule`` for a fire time of the trigger, ``manual`` for ``run_now``."""
    scheduled_at: datetime | None
    """The fire time this run serves (naive UTC); ``None`` for a manual run."""
    started_at: datetime
    clock: Clock
    """The clock the run is timed by; jobs use it for their own timestamps (simulated time)."""


JobFunction = Callable[[JobContext], str]
"""A job: does its work and returns a one-line detail for the record; raising means failed."""


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: what runs, and when."""

    id: str
    """``monitor``, ``retrain``, ...; unique within a scheduler."""
    trigger: BaseTrigger
    """An APScheduler 3 trigger, used as is by both the real and the simulated scheduler."""
    func: JobFunction
    description: str
    """One line for status displays, e.g. ``monitoring check every 60 min``."""


PRUNE_CRON = "15 4 * * *"
"""When the retention job runs: daily at 04:15 UTC (after the default Sunday 03:00 retrain)."""


def default_jobs(settings: Settings | MonitoringSettings, monitor_fn: JobFunction,
                 retrain_fn: JobFunction, *, start: datetime | None = None,
                 prune_fn: JobFunction | None = None) -> list[JobSpec]:
    """Build the standard jobs: the interval monitoring check, the cron retraining and, when
    ``prune_fn`` is given, the daily retention prune (``PRUNE_CRON``).

    Args:
        settings: the installation's settings (or just their ``monitoring`` part).
        monitor_fn: one monitoring cycle.
        retrain_fn: one scheduled retraining.
        start: naive UTC anchor of the monitoring interval; the first check fires one
            interval after it. Default: one interval after now, in real time. A simulated
            clock needs its own start here, or the first check would be in real time.

    Raises:
        ConfigError: ``monitoring.retrain_cron`` is not a valid crontab.
    """
    monitoring = settings.monitoring if isinstance(settings, Settings) else settings
    minutes = monitoring.interval_minutes
    first = None if start is None else _aware(start) + timedelta(minutes=minutes)
    interval = IntervalTrigger(minutes=minutes, timezone=UTC, start_date=first)
    try:
        cron = crontab_trigger(monitoring.retrain_cron)
    except ValueError as exc:
        raise ConfigError(f"invalid config value monitoring.retrain_cron="
                          f"{monitoring.retrain_cron!r}: {exc}") from None
    return [
        JobSpec("monitor", interval, monitor_fn, f"monitoring check every {minutes:g} min"),
        JobSpec("retrain", cron, retrain_fn,
                f"retraining on cron '{monitoring.retrain_cron}' (UTC)"),
    ] + ([JobSpec("prune", crontab_trigger(PRUNE_CRON), prune_fn,
                  f"retention prune daily on cron '{PRUNE_CRON}' (UTC)")] if prune_fn else [])


_CRONTAB_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_trigger(expr: str) -> BaseTrigger:
    """A UTC ``CronTrigger`` for a standard five-field crontab, weekdays as cron means them.

    APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0, so
    ``0 3 * * 0`` would fire on Mondays (agronholm/apscheduler#286, fixed only in 4.x).
    Numeric weekdays are therefore rewritten as names (0 and 7 = ``sun``), ranges, lists and
    steps included; names pass through unchanged. When both day-of-month and day-of-week are
    restricted (neither starts with ``*``), cron fires on days matching *either* field, where
    a single ``CronTrigger`` needs both: such a crontab becomes an ``OrTrigger`` of two.

    Raises:
        ValueError: not a valid crontab.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    weekdays = _crontab_weekdays(weekday)
    if day.startswith("*") or weekday.startswith("*"):
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=weekdays, timezone=UTC)
    # Both restricted: cron fires when EITHER matches (crontab(5): "the command will be run
    # when either field matches"), APScheduler's CronTrigger only when both do.
    return OrTrigger([
        CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=UTC),
        CronTrigger(minute=minute, hour=hour, month=month, day_of_week=weekdays, timezone=UTC),
    ])


def _crontab_weekdays(field: str) -> str:
    if field == "*":
        return field
    parts: list[str] = []
    for part in field.split(","):
        base, has_step, step_text = part.partition("/")
        if any(char.isalpha() for char in base):
            parts.append(part)
            continue
        step = int(step_text) if has_step else 1
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            low_text, high_text = base.split("-", 1)
            low, high = int(low_text), int(high_text)
        else:
            low = int(base)
            high = 6 if has_step else low
        if not (0 <= low <= high <= 7) or step < 1:
            raise ValueError(f"invalid weekday {part!r} (0-7, 0 and 7 are Sunday)")
        days = sorted({number % 7 for number in range(low, high + 1, step)})
        parts.append(",".join(_CRONTAB_DAY_NAMES[number] for number in days))
    return ",".join(parts)


class JobRecorder(Protocol):
    """Where job runs are written; ``Store`` satisfies it. Must insert-or-replace by id."""

    def record_job_run(self, run: JobRun) -> None:
        """Persist ``run``, replacing an earlier record with the same id."""
        ...


# The single-holder lock -----------------------------------------------------------------------

@dataclass(frozen=True)
class HolderInfo:
    """The process that holds (or held) the scheduler of a data home."""

    host: str
    pid: int
    kind: str
    """``console``, ``monitor``, ``demo``, ...: what sort of process it is."""
    since: datetime
    """When it took the lock (naive UTC, wall clock)."""

    @property
    def label(self) -> str:
        """``host:pid``, as written in ``JobRun.holder``."""
        return f"{self.host}:{self.pid}"

    def describe(self) -> str:
        """One line for people, e.g. ``monitor on box (pid 812) since 2025-12-09 10:30:16``."""
        return (f"{self.kind} on {self.host} (pid {self.pid}) "
                f"since {self.since:%Y-%m-%d %H:%M:%S} UTC")


def _this_process_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SchedulerLock:
    """At most one scheduler per data home, across processes.

    ``fcntl.flock`` (non-blocking) on ``<lock_dir>/scheduler.lock``: the kernel drops it when
    the holding process dies, SIGKILL included, so a crashed holder never blocks a successor.
    Two ``SchedulerLock`` objects in one process are also exclusive (each opens its own file
    description). The descriptor is not inherited by programs the holder ``exec``s; a plain
    ``fork`` child would share it, so holders must not fork workers that outlive them.
    """

    def __init__(self, lock_dir: Path) -> None:
        self.lock_dir = lock_dir
        self._fd: int | None = None
        self._info: HolderInfo | None = None
        self._mutex = threading.Lock()

    @classmethod
    def for_home(cls, home: Path) -> SchedulerLock:
        """The lock of the data home ``home`` (``<home>/locks``)."""
        return cls(home / "locks")

    @property
    def lock_path(self) -> Path:
        """The flock'ed file."""
        return self.lock_dir / LOCK_FILE

    @property
    def holder_path(self) -> Path:
        """The JSON file naming the holder."""
        return self.lock_dir / HOLDER_FILE

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, kind: str) -> bool:
        """Take the lock without waiting and write the holder file; ``False`` if held elsewhere."""
        with self._mutex:
            if self._fd is not None:
                return True
            self.lock_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            info = HolderInfo(socket.gethostname(), os.getpid(), kind, utcnow())
            try:
                self._write_holder(info)
            except OSError:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                raise
            self._fd, self._info = fd, info
            return True

    def holder(self) -> HolderInfo | None:
        """Who holds the lock, as far as the holder file tells; readable by any process.

        A holder file left by a dead process on this host counts as no holder. (A process on
        another host sharing the data home cannot be checked and is taken at its word.)
        """
        if self._info is not None:
            return self._info
        try:
            raw = json.loads(self.holder_path.read_text(encoding="utf-8"))
            info = HolderInfo(host=str(raw["host"]), pid=int(raw["pid"]), kind=str(raw["kind"]),
                              since=datetime.fromisoformat(raw["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if info.host == socket.gethostname() and not _pid_alive(info.pid):
            return None
        return info

    def release(self) -> None:
        """Remove the holder file and drop the lock; harmless when not held."""
        with self._mutex:
            if self._fd is None:
                return
            with contextlib.suppress(FileNotFoundError):
                self.holder_path.unlink()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd, self._info = None, None

    def _write_holder(self, info: HolderInfo) -> None:
        payload = {"host": info.host, "pid": info.pid, "kind": info.kind,
                   "since": info.since.isoformat()}
        tmp = self.holder_path.with_name(f".{HOLDER_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, self.holder_path)


# Events and status ------------------------------------------------------------------------------

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


# The recording wrapper -------------------------------------------------------------------------

def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _naive(when: Any) -> datetime:
    if not isinstance(when, datetime):
        raise TypeError(f"expected a datetime, got {when!r}")
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def _next_fire(trigger: BaseTrigger, previous: datetime | None, now: datetime) -> datetime | None:
    """The trigger's next fire time (naive UTC) after ``previous``, from ``now``."""
    fire = trigger.get_next_fire_time(None if previous is None else _aware(previous), _aware(now))
    return None if fire is None else _naive(fire)


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:DETAIL_MAX_CHARS]


class _RunRecorder:
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
        self.holder = _this_process_label()
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
                detail = _one_line(str(spec.func(context)))
                outcome = "ok"
            except ConflictError as exc:
                # The same work is running elsewhere (a check or retrain of this data home in
                # another process): not a failure of this run.
                outcome, detail = "skipped", _one_line(f"skipped: {exc}")
            except Exception as exc:
                logger.exception("job %s (run %s) failed", job_id, run.id)
                detail = _one_line(f"{type(exc).__name__}: {exc}")
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
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_dir / f"job-{job_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        return fd

    def record_outcome(self, job_id: str, scheduled_at: datetime | None, outcome: Outcome,
                       detail: str) -> JobRun:
        """Record a run that never started (``skipped``, ``missed``); started_at is when noticed."""
        now = self.clock.now()
        run = JobRun(id=uuid.uuid4().hex, job=job_id, scheduled_at=scheduled_at, started_at=now,
                     finished_at=now, outcome=outcome, detail=_one_line(detail),
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


# The real scheduler -----------------------------------------------------------------------------

class SchedulerHost:
    """Runs the jobs with APScheduler 3 if this process holds the data home's lock.

    ``mode="background"`` uses a ``BackgroundScheduler`` (its own thread: the headless
    monitor, tests); ``mode="asyncio"`` an ``AsyncIOScheduler`` on the running loop (the
    Textual console; jobs still run in the loop's thread pool, never on the loop). Jobs
    coalesce, run one instance at a time and may start up to ``misfire_grace_seconds`` late;
    later than that, the run is recorded as ``missed``. Without the lock the host stands by,
    retries every ``retry_seconds`` and takes over when the holder goes away.
    """

    def __init__(self, jobs: Sequence[JobSpec], recorder: JobRecorder, lock: SchedulerLock,
                 clock: Clock, *, kind: str, mode: Literal["background", "asyncio"] = "background",
                 misfire_grace_seconds: float = 300, on_event: EventSink | None = None,
                 retry_seconds: float = 5.0) -> None:
        self._runner = _RunRecorder(jobs, recorder, clock, on_event, lock.lock_dir)
        self._specs = list(jobs)
        self._lock = lock
        self._kind = kind
        self._mode = mode
        self._grace = misfire_grace_seconds
        self._retry_seconds = retry_seconds
        self._state = threading.RLock()
        self._scheduler: Any = None
        self._started = False
        self._stopped = False
        self._in_flight = 0
        self._cursor: dict[str, datetime | None] = {}
        self._retry_stop = threading.Event()
        self._retry_thread: threading.Thread | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> SchedulerHost:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def start(self) -> bool:
        """Become the active scheduler, or stand by; ``True`` when active.

        Raises:
            RuntimeError: in asyncio mode, when called outside a running loop; or if started
                twice.
        """
        if self._mode == "asyncio":
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError("asyncio mode must be started on a running asyncio loop "
                                   "(e.g. in the app's on_mount)") from None
        with self._state:
            if self._started:
                raise RuntimeError("this scheduler host was already started")
            self._started = True
            if self._try_activate():
                return True
        holder = self._lock.holder()
        self._runner.emit(SchedulerEvent(
            "standby", SchedulerStatus(False, True, holder, ()).describe(), holder=holder))
        self._start_retrying()
        return False

    def status(self) -> SchedulerStatus:
        """Active or standby, the holder, and each job's next run time."""
        with self._state:
            scheduler, stopped, started = self._scheduler, self._stopped, self._started
        active = scheduler is not None and not stopped
        jobs = []
        for spec in self._specs:
            next_run: datetime | None = None
            if active:
                job = scheduler.get_job(spec.id)
                if job is not None and job.next_run_time is not None:
                    next_run = _naive(job.next_run_time)
            jobs.append(JobStatus(spec.id, next_run, spec.description))
        standby = started and not stopped and not active
        holder = self._lock.holder() if (active or standby) else None
        return SchedulerStatus(active, standby, holder, tuple(jobs))

    def run_now(self, job_id: str) -> JobRun:
        """Run a job now, in the calling thread, and return its record (``scheduled_at=None``).

        Works active or standing by. Blocks for the length of the job: UIs call it from a
        worker thread. If the job is already running it is not started again: the returned
        record is ``skipped``.

        Raises:
            KeyError: no job has that id.
        """
        self._runner.spec(job_id)
        self._enter()
        try:
            return self._runner.run(job_id, scheduled_at=None, trigger="manual")
        finally:
            self._exit()

    def shutdown(self) -> None:
        """Stop scheduling (without waiting for running jobs) and release the lock; idempotent.

        The lock is released once the last running job has finished, so no successor can start
        the same job while this process still runs it.
        """
        with self._state:
            if self._stopped:
                return
            self._stopped = True
            scheduler, self._scheduler = self._scheduler, None
            self._retry_stop.set()
            if self._retry_task is not None and self._loop is not None:
                with contextlib.suppress(RuntimeError):  # loop already closed
                    self._loop.call_soon_threadsafe(self._retry_task.cancel)
            if scheduler is not None:
                try:
                    scheduler.shutdown(wait=False)
                except Exception:
                    logger.exception("scheduler shutdown failed")
            if self._in_flight == 0:
                self._lock.release()
        if self._retry_thread is not None and self._retry_thread is not threading.current_thread():
            self._retry_thread.join(timeout=self._retry_seconds + 1)
        self._runner.emit(SchedulerEvent("stopped", "scheduler stopped"))

    # Activation and standby -------------------------------------------------------------

    def _try_activate(self) -> bool:
        """Take the lock and start APScheduler; call with ``_state`` held."""
        if self._stopped or not self._lock.acquire(self._kind):
            return False
        try:
            self._scheduler = self._build_scheduler()
        except BaseException:
            self._lock.release()
            raise
        holder = self._lock.holder()
        self._runner.emit(SchedulerEvent(
            "active", f"scheduler active: {holder.describe() if holder else self._kind}",
            holder=holder))
        return True

    def _build_scheduler(self) -> Any:
        options: dict[str, Any] = {
            "timezone": UTC,
            "job_defaults": {"coalesce": True, "max_instances": 1,
                             "misfire_grace_time": self._grace},
        }
        scheduler: Any
        if self._mode == "asyncio":
            scheduler = AsyncIOScheduler(event_loop=self._loop, **options)
        else:
            scheduler = BackgroundScheduler(**options)
        now = utcnow()
        for spec in self._specs:
            # Computed before APScheduler computes its own first fire time, so never later.
            self._cursor[spec.id] = _next_fire(spec.trigger, None, now)
            scheduler.add_job(self._scheduled_run, trigger=spec.trigger, args=[spec.id],
                              id=spec.id, name=spec.description, replace_existing=True)
        scheduler.add_listener(self._on_apscheduler_event,
                               aps_events.EVENT_JOB_MISSED | aps_events.EVENT_JOB_MAX_INSTANCES
                               | aps_events.EVENT_JOB_ERROR)
        scheduler.start()
        return scheduler

    def _start_retrying(self) -> None:
        if self._mode == "asyncio":
            assert self._loop is not None
            self._retry_task = self._loop.create_task(self._retry_async())
        else:
            self._retry_thread = threading.Thread(target=self._retry_loop, daemon=True,
                                                  name="spamops-scheduler-standby")
            self._retry_thread.start()

    def _retry_once(self) -> bool:
        with self._state:
            return self._stopped or self._try_activate()

    def _retry_loop(self) -> None:
        while not self._retry_stop.wait(self._retry_seconds):
            if self._retry_once():
                return

    async def _retry_async(self) -> None:
        while True:
            await asyncio.sleep(self._retry_seconds)
            if self._retry_once():
                return

    # Runs -------------------------------------------------------------------------------------

    def _enter(self) -> None:
        with self._state:
            self._in_flight += 1

    def _exit(self) -> None:
        with self._state:
            self._in_flight -= 1
            if self._stopped and self._in_flight == 0:
                self._lock.release()

    def _scheduled_run(self, job_id: str) -> None:
        """What APScheduler calls; never raises."""
        self._enter()
        try:
            self._runner.run(job_id, scheduled_at=self._scheduled_time(job_id),
                             trigger="schedule")
        except Exception:
            logger.exception("recording wrapper of job %s failed", job_id)
        finally:
            self._exit()

    def _scheduled_time(self, job_id: str) -> datetime | None:
        """The fire time this run serves: the trigger's latest fire time not after now.

        APScheduler 3 does not pass the fire time to the job function, so it is recomputed from
        the same trigger (coalescing also picks the latest due fire time). Only a start delayed
        past the next fire time after submission would shift it; see docs/architecture.md.
        """
        trigger = self._runner.jobs[job_id].trigger
        now = utcnow()
        with self._state:
            fire = self._cursor.get(job_id)
            latest: datetime | None = None
            while fire is not None and fire <= now:
                latest = fire
                fire = _next_fire(trigger, fire, now)
            self._cursor[job_id] = fire
        return latest

    def _on_apscheduler_event(self, event: Any) -> None:
        try:
            if event.code == aps_events.EVENT_JOB_MISSED:
                scheduled = _naive(event.scheduled_run_time)
                late = (utcnow() - scheduled).total_seconds()
                self._runner.record_outcome(
                    event.job_id, scheduled, "missed",
                    f"missed by {late:.1f}s (grace {self._grace:g}s)")
            elif event.code == aps_events.EVENT_JOB_MAX_INSTANCES:
                scheduled = _naive(event.scheduled_run_times[-1])
                self._runner.record_outcome(event.job_id, scheduled, "skipped",
                                            "skipped: the previous run is still running")
            elif event.code == aps_events.EVENT_JOB_ERROR:
                logger.error("job %s escaped its recording wrapper: %s", event.job_id,
                             event.exception)
        except Exception:
            logger.exception("could not handle scheduler event %s", event)


# Simulated time --------------------------------------------------------------------------------

class SimulatedScheduler:
    """Fires jobs at their simulated times, deterministically, for the demo.

    Uses the jobs' own APScheduler triggers and the same recording wrapper as
    ``SchedulerHost``. ``advance_to`` moves the clock from fire time to fire time, setting it
    to each fire time before running the job, so scheduled and actual start are equal and
    every timestamp a job writes is in simulated time. Jobs due at the same instant run in the
    order they were given. If something else moved the clock past fire times, the job runs once,
    late, for the latest of them (like APScheduler's coalescing). No lock: simulated time
    belongs to the one process that drives it. Run ids are random; the schedule is not.
    """

    def __init__(self, jobs: Sequence[JobSpec], recorder: JobRecorder, clock: SimulatedClock,
                 *, on_event: EventSink | None = None) -> None:
        self._runner = _RunRecorder(jobs, recorder, clock, on_event)
        self._specs = list(jobs)
        self._clock = clock
        now = clock.now()
        self._next: dict[str, datetime | None] = {
            spec.id: _next_fire(spec.trigger, None, now) for spec in jobs}

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Each job's next simulated fire time (naive UTC)."""
        return dict(self._next)

    def advance_to(self, when: datetime) -> list[JobRun]:
        """Run every job due up to and including ``when``, in time order; end with the clock at
        ``when`` (or later, if a job moved it). Returns the final records, in order."""
        runs: list[JobRun] = []
        while True:
            due = [(fire, index, spec) for index, spec in enumerate(self._specs)
                   if (fire := self._next[spec.id]) is not None and fire <= when]
            if not due:
                break
            fire, _, spec = min(due, key=lambda item: (item[0], item[1]))
            now = self._clock.now()
            while fire < now:  # coalesce fire times the clock was moved past
                following = _next_fire(spec.trigger, fire, now)
                if following is None or following > now:
                    break
                fire = following
            if fire > now:
                self._clock.set(fire)
            runs.append(self._runner.run(spec.id, scheduled_at=fire, trigger="schedule"))
            self._next[spec.id] = _next_fire(spec.trigger, fire, max(fire, self._clock.now()))
        if when > self._clock.now():
            self._clock.set(when)
        return runs

    def run_now(self, job_id: str) -> JobRun:
        """Run a job at the current simulated time, as a manual run.

        Raises:
            KeyError: no job has that id.
        """
        self._runner.spec(job_id)
        return self._runner.run(job_id, scheduled_at=None, trigger="manual")
