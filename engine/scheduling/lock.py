"""``SchedulerLock``: at most one scheduler per history, and who holds it.

Owns the two ways of holding it: on a DuckDB store, ``<home>/locks/scheduler.lock`` (an
``flock`` taken without waiting through ``engine.locks.try_flock`` and kept while this process
schedules) and the holder file beside it; on a PostgreSQL store, ``AdvisorySchedulerLock``, a
session-level advisory lock shared by every host (``engine.advisory``). Both name the holder
as a ``HolderInfo`` (host, pid, process kind, since) and answer ``still_held``. It must not
schedule anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.advisory import current_holder, holder_text
from engine.clock import utcnow
from engine.locks import pid_alive, try_flock

if TYPE_CHECKING:
    from engine.store import Store
    from engine.store.postgres import AdvisoryLock

LOCK_FILE = "scheduler.lock"
"""Name of the flock'ed file inside the lock directory (``<home>/locks``)."""


HOLDER_FILE = "scheduler.holder.json"
"""Who holds the lock: host, pid, process kind, since; written only while held."""


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


def this_process_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


ADVISORY_NAME = "scheduler"
"""The advisory lock's name on a PostgreSQL store (``engine.store.postgres.lock_id``)."""


class HolderLock(Protocol):
    """What ``SchedulerHost`` needs of a scheduler lock (``SchedulerLock``,
    ``AdvisorySchedulerLock``)."""

    lock_dir: Path
    """This data home's lock folder (per-job locks of this host live there)."""

    @property
    def held(self) -> bool: ...

    def acquire(self, kind: str) -> bool: ...

    def still_held(self) -> bool: ...

    def holder(self) -> HolderInfo | None: ...

    def release(self) -> None: ...


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

    def still_held(self) -> bool:
        """Whether this object still holds the lock (an ``flock`` is only lost by releasing)."""
        return self._fd is not None

    def acquire(self, kind: str) -> bool:
        """Take the lock without waiting and write the holder file; ``False`` if held elsewhere."""
        with self._mutex:
            if self._fd is not None:
                return True
            fd = try_flock(self.lock_path)
            if fd is None:
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
        if info.host == socket.gethostname() and not pid_alive(info.pid):
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


class AdvisorySchedulerLock:
    """At most one scheduler per history across every host of a PostgreSQL store.

    A session-level advisory lock (``Store.advisory_lock``) on a connection of its own, kept
    while this process schedules. PostgreSQL releases it when the holder dies, when its host
    vanishes (TCP keepalives end the session within about ``dead_peer_seconds``) and when the
    server restarts; ``still_held`` asks the session, so a holder finds out it lost the lock.

    Raises (``acquire``): ``StoreUnreachable`` when the server cannot be reached.
    """

    def __init__(self, store: Store, lock_dir: Path, *,
                 dead_peer_seconds: float | None = None) -> None:
        self.lock_dir = lock_dir
        self._store = store
        self._dead_peer = dead_peer_seconds
        self._lock: AdvisoryLock | None = None
        self._info: HolderInfo | None = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether this object took the lock (and has not released it or found it lost)."""
        return self._lock is not None

    def acquire(self, kind: str) -> bool:
        """Take the lock without waiting; ``False`` when another process holds it."""
        with self._mutex:
            if self._lock is not None and self._lock.held():
                return True
            self._drop()
            lock = self._store.advisory_lock(ADVISORY_NAME, holder_text(kind),
                                              dead_peer_seconds=self._dead_peer)
            if lock is None:
                raise ValueError("an advisory scheduler lock needs a PostgreSQL store")
            if not lock.try_acquire():
                return False
            self._lock = lock
            self._info = HolderInfo(socket.gethostname(), os.getpid(), kind, utcnow())
            return True

    def still_held(self) -> bool:
        """Whether the lock's session still answers; a lost session is dropped (``held``
        turns false and ``acquire`` may take it again)."""
        with self._mutex:
            if self._lock is None:
                return False
            if self._lock.held():
                return True
            self._drop()
            return False

    def holder(self) -> HolderInfo | None:
        """Who holds the lock now on any host (``None`` also while the server is away)."""
        with self._mutex:
            if self._info is not None:
                return self._info
        probe = self._store.advisory_lock(ADVISORY_NAME, "probe")
        if probe is None:
            return None
        found = current_holder(probe)
        if found is None:
            return None
        return HolderInfo(found.host, found.pid, found.kind, found.since)

    def release(self) -> None:
        """Give the lock up; harmless when not held."""
        with self._mutex:
            self._drop()

    def _drop(self) -> None:
        if self._lock is not None:
            self._lock.release()
        self._lock, self._info = None, None
