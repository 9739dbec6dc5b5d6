"""``MonitorBase``: what the monitor's concerns share, its locks, and crash recovery.

Owns the monitor's parts (settings, store, registry, datasets, detectors, clock, log, champion
switch), the check and retrain locks (one check and one retrain at a time per history: file
locks of the data home on DuckDB, ``engine.locks``; PostgreSQL advisory locks shared by every
host on a PostgreSQL store, ``engine.advisory``), the fence a check or retrain verifies
between its phases (``verify_lock``: a PostgreSQL lock can be lost while held), and marking
work a dead process left ``running``. It must not
run a check or a retrain itself (``check``, ``retrain``).
"""

from __future__ import annotations

import abc
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.clock import Clock
from engine.config import Settings
from engine.errors import Busy, ConflictError
from engine.locks import ExclusiveLock, Fence, FileLock, pid_alive
from engine.monitoring.log import MonitorLog
from engine.monitoring.outcomes import RetrainResult
from engine.notify import events as notify
from engine.records import RetrainingEvent
from engine.registry import Registry
from engine.stopwatch import Stopwatch

if TYPE_CHECKING:
    from engine.champion_switch import ChampionSwitch
    from engine.dataset import Dataset
    from engine.datasets import ChampionDatasets
    from engine.drift import DriftDetector
    from engine.store import Store

RETRAIN_LOCK_WAIT_SECONDS = 2.0
"""How long a retrain waits for the retrain lock, so a recovery holding it briefly never
refuses a real retrain; a retrain holds it for minutes, so a longer wait would only delay
the refusal."""


class MonitorBase(abc.ABC):
    """The state every concern of ``Monitor`` shares, its locks and its recovery."""

    @abc.abstractmethod
    def retrain(self, *, trigger: str, actor: str = "scheduler",
                reasons: tuple[str, ...] = (), decision_id: str | None = None,
                progress: Callable[[str], None] | None = None) -> RetrainResult:
        """Train a challenger, compare it, deploy, keep or wait (``retrain``)."""

    def __init__(self, *, settings: Settings, store: Store, registry: Registry,
                 dataset: Dataset | ChampionDatasets,
                 detector_for: Callable[[int], DriftDetector],
                 clock: Clock, log: MonitorLog, switch: ChampionSwitch) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.dataset = dataset
        self.detector_for = detector_for
        self.clock = clock
        self.log = log
        self.switch = switch
        """Every change of champion goes through it: recorded intent, then the aliases."""
        self.retrain_time = Stopwatch()
        """Wall and CPU time spent in this monitor's retrains (``replay`` reports its speed
        apart from them)."""
        self._lock_path = settings.home / "locks" / "retrain.lock"
        self._check_lock_path = settings.home / "locks" / "check.lock"
        self._fences: dict[str, Fence] = {}
        """The fence of each lock this monitor holds now (``retrain``, ``check``); none on
        DuckDB, whose file locks cannot be lost while their holder lives."""

    def _exclusive(self, path: Path) -> ExclusiveLock:
        """The lock named by the file ``path``: that file on DuckDB; on a PostgreSQL store,
        the advisory lock of the same name (``check``, ``retrain``), for every host."""
        if not self.settings.store_is_postgres:
            return FileLock(path)
        from engine.advisory import AdvisoryHold

        return AdvisoryHold(self.store, path.stem, path.stem,
                            dead_peer_seconds=self.settings.monitoring.takeover_seconds * 2 / 3)

    def _home_lock(self, path: Path, what: str,
                   wait: float = 0.0) -> AbstractContextManager[Fence | None]:
        """Hold the exclusive lock ``path`` (one holder per history, across processes, and
        across hosts on a PostgreSQL store).

        Waits up to ``wait`` seconds for it (rides over a short holder such as recovery),
        then refuses with ``Busy`` (a ``ConflictError``) naming the holder: its pid and start
        time from the file (``engine.locks.FileLock``), or its host, pid and session start
        on PostgreSQL (``engine.advisory.AdvisoryHold``).
        """
        return self._exclusive(path).hold(
            wait=wait, clock=self.clock,
            refuse=lambda holder: Busy(f"{what} is already running{holder}; wait for it to "
                                       "finish"))

    @contextmanager
    def _retrain_lock(self, wait: float = RETRAIN_LOCK_WAIT_SECONDS) -> Iterator[None]:
        """Hold the data home's retrain lock; a second retrain anywhere is refused."""
        with self._home_lock(self._lock_path, "a retrain", wait) as fence, \
                self._fenced("retrain", fence):
            yield

    @contextmanager
    def _check_lock(self) -> Iterator[None]:
        """Hold the data home's check lock: one monitoring check at a time, from any process.

        Two checks at once would read the same window and record it twice (issue 14, item 6).
        """
        with self._home_lock(self._check_lock_path, "a monitoring check") as fence, \
                self._fenced("check", fence):
            yield

    @contextmanager
    def _fenced(self, lock: str, fence: Fence | None) -> Iterator[None]:
        if fence is None:
            yield
            return
        self._fences[lock] = fence
        try:
            yield
        finally:
            self._fences.pop(lock, None)

    def verify_lock(self, lock: str) -> None:
        """Make sure this monitor still holds its ``lock`` (``retrain`` or ``check``) before
        the next phase of the work it protects; a no-op on DuckDB and when not held.

        Cost: one query on the lock's own PostgreSQL session (``AdvisoryLock.held``).

        Raises:
            LockLost: the lock's session ended (PostgreSQL restarted, the connection
                dropped); another host may hold the lock now.
        """
        fence = self._fences.get(lock)
        if fence is not None:
            fence.verify()

    def retrain_running(self) -> bool:
        """Whether any process of this history (any host, on PostgreSQL) is retraining now."""
        return self._exclusive(self._lock_path).in_use()

    def recover_interrupted(self) -> list[RetrainingEvent]:
        """Mark work left ``running`` by a process that died: retrains become ``interrupted``,
        job runs ``failed`` (detail ``interrupted: ...``).

        Runs while holding the retrain lock (so no retrain can start in between), and touches
        only records whose process is gone: a live pid on this host is never marked, whatever
        the lock says. When another process holds the retrain lock, retrains are left for the
        next recovery. Retraining events carry only a pid, so they are taken to be from this
        host (the documented one-host-per-data-home limit); job runs carry ``host:pid``.
        """
        recovered: list[RetrainingEvent] = []
        try:
            with self._retrain_lock(wait=0.0):
                for event in self.store.running_retrainings():
                    if event.pid is not None and pid_alive(event.pid):
                        continue
                    recovered.append(self._mark_interrupted(event))
        except ConflictError:
            pass  # a retrain is running: its own events are live; recover next time
        self._recover_job_runs()
        return recovered

    def _mark_interrupted(self, event: RetrainingEvent) -> RetrainingEvent:
        done = replace(event, status="interrupted", finished_at=self.clock.now(),
                       reasoning=(f"Interrupted: process {event.pid} stopped before the "
                                  "retrain finished; the champion was not changed."))
        self.store.save_retraining(done, events=notify.retraining(done))
        self.store.append_audit("system", "retrain.interrupted", done.id,
                                {"pid": event.pid, "trigger": event.trigger},
                                done.reasoning)
        self.log.write(f"Retraining {event.id[:8]} was interrupted (pid {event.pid}); "
                       "marked as such, champion unchanged")
        return done

    def _recover_job_runs(self) -> None:
        """Job runs still ``running`` whose process (on this host) is gone become ``failed``."""
        host = socket.gethostname()
        for run in self.store.running_job_runs():
            run_host, _, pid_text = run.holder.rpartition(":")
            if run_host != host or not pid_text.isdigit() or pid_alive(int(pid_text)):
                continue
            self.store.record_job_run(replace(
                run, outcome="failed", finished_at=self.clock.now(),
                detail=f"interrupted: process {pid_text} stopped before the run finished"))
            self.log.write(f"Job run {run.job} {run.id[:8]} was interrupted (pid {pid_text}); "
                           "marked failed")
