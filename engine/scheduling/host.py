"""``SchedulerHost``: runs the jobs with APScheduler 3 in whichever process holds the lock.

Owns starting APScheduler (background thread or asyncio loop) when this process takes the
scheduler lock (``HolderLock``), standing by and retrying in every other process, watching
that the holder still holds it (a PostgreSQL advisory lock is lost when the server restarts:
the holder then stops scheduling and stands by), recording missed and skipped fire times, and
releasing the lock only when the last running job has finished. It must not know what the
jobs do, and must never let a job stop the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from apscheduler import events as aps_events
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler

from engine.clock import Clock, utcnow
from engine.errors import StoreError
from engine.records import JobRun
from engine.scheduling.jobs import (
    JobRecorder,
    JobSpec,
    naive_utc,
    next_fire,
)
from engine.scheduling.lock import HolderLock
from engine.scheduling.runs import (
    EventSink,
    JobStatus,
    RunRecorder,
    SchedulerEvent,
    SchedulerStatus,
)

logger = logging.getLogger("spamops.scheduling")


class SchedulerHost:
    """Runs the jobs with APScheduler 3 if this process holds the data home's lock.

    ``mode="background"`` uses a ``BackgroundScheduler`` (its own thread: the headless
    monitor, tests); ``mode="asyncio"`` an ``AsyncIOScheduler`` on the running loop (the
    Textual console; jobs still run in the loop's thread pool, never on the loop). Jobs
    coalesce, run one instance at a time and may start up to ``misfire_grace_seconds`` late;
    later than that, the run is recorded as ``missed``. Without the lock the host stands by,
    retries every ``retry_seconds`` and takes over when the holder goes away. While active it
    asks the lock every ``retry_seconds`` whether it still holds it; a lost lock stops
    APScheduler (running jobs finish) and the host stands by again.
    """

    def __init__(self, jobs: Sequence[JobSpec], recorder: JobRecorder, lock: HolderLock,
                 clock: Clock, *, kind: str, mode: Literal["background", "asyncio"] = "background",
                 misfire_grace_seconds: float = 300, on_event: EventSink | None = None,
                 retry_seconds: float = 5.0) -> None:
        self._runner = RunRecorder(jobs, recorder, clock, on_event, lock.lock_dir)
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

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Become the active scheduler, or stand by; ``True`` when active.

        Taking the lock may wait for the store (on PostgreSQL, up to its connect timeout), so
        an asyncio UI calls this from a worker thread and passes its own ``loop``: APScheduler
        and the standby watch then run on that loop, never blocking it.

        Raises:
            RuntimeError: in asyncio mode, when no ``loop`` is given and none is running in
                this thread; or if started twice.
        """
        if self._mode == "asyncio":
            try:
                self._loop = loop if loop is not None else asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError("asyncio mode must be started on a running asyncio loop "
                                   "(e.g. in the app's on_mount) or be given it") from None
        with self._state:
            if self._started:
                raise RuntimeError("this scheduler host was already started")
            self._started = True
            try:
                active = self._try_activate()
            except StoreError as exc:
                logger.warning("scheduler lock not taken: %s", exc)
                active = False
        if not active:
            holder = self._lock.holder()
            self._runner.emit(SchedulerEvent(
                "standby", SchedulerStatus(False, True, holder, ()).describe(), holder=holder))
        self._start_retrying()
        return active

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
                    next_run = naive_utc(job.next_run_time)
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
            self._cursor[spec.id] = next_fire(spec.trigger, None, now)
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
            # ``start`` may run in a worker thread: the task is created on the loop itself.
            self._loop.call_soon_threadsafe(self._create_retry_task)
        else:
            self._retry_thread = threading.Thread(target=self._retry_loop, daemon=True,
                                                  name="spamops-scheduler-standby")
            self._retry_thread.start()

    def _create_retry_task(self) -> None:
        """On the loop: start the asyncio standby watch, unless the host stopped meanwhile."""
        with self._state:
            if self._stopped or self._loop is None:
                return
            self._retry_task = self._loop.create_task(self._retry_async())

    def _retry_once(self) -> bool:
        """One watch: standing by, try to take the lock; active, check it is still ours and
        stand by when it is not. ``True`` once the host has stopped."""
        with self._state:
            if self._stopped:
                return True
            if self._scheduler is None:
                try:
                    self._try_activate()
                except StoreError as exc:  # the store is away: try again next time
                    logger.warning("scheduler lock not taken: %s", exc)
                return False
        # Asked outside ``_state``: a lock on a server may take a while to answer.
        if self._lock.still_held():
            return False
        with self._state:
            if self._stopped:
                return True
            scheduler, self._scheduler = self._scheduler, None
            if self._in_flight == 0:
                self._lock.release()
        if scheduler is not None:
            try:
                scheduler.shutdown(wait=False)
            except Exception:
                logger.exception("scheduler shutdown failed")
        message = ("scheduler lost its lock (its session ended: the database restarted or "
                   "the connection dropped); stopped scheduling, standing by")
        logger.warning(message)
        self._runner.emit(SchedulerEvent("standby", message, holder=self._lock.holder()))
        return False

    def _retry_loop(self) -> None:
        while not self._retry_stop.wait(self._retry_seconds):
            if self._retry_once():
                return

    async def _retry_async(self) -> None:
        while True:
            await asyncio.sleep(self._retry_seconds)
            # In a worker thread: taking or asking a lock on a server must not block the loop.
            if await asyncio.to_thread(self._retry_once):
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
                fire = next_fire(trigger, fire, now)
            self._cursor[job_id] = fire
        return latest

    def _on_apscheduler_event(self, event: Any) -> None:
        try:
            if event.code == aps_events.EVENT_JOB_MISSED:
                scheduled = naive_utc(event.scheduled_run_time)
                late = (utcnow() - scheduled).total_seconds()
                self._runner.record_outcome(
                    event.job_id, scheduled, "missed",
                    f"missed by {late:.1f}s (grace {self._grace:g}s)")
            elif event.code == aps_events.EVENT_JOB_MAX_INSTANCES:
                scheduled = naive_utc(event.scheduled_run_times[-1])
                self._runner.record_outcome(event.job_id, scheduled, "skipped",
                                            "skipped: the previous run is still running")
            elif event.code == aps_events.EVENT_JOB_ERROR:
                logger.error("job %s escaped its recording wrapper: %s", event.job_id,
                             event.exception)
        except Exception:
            logger.exception("could not handle scheduler event %s", event)
