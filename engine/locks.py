"""Cross-process locks of a data home: exclusive locks with a deadline, holders, live pids.

Owns the one implementation of "take an exclusive lock, waiting up to N seconds, else refuse
naming who holds it" (``FileLock.hold``, on ``fcntl.flock``), the probe "is it held right now"
(``FileLock.in_use``), the holder stamp a holder writes into its lock file (pid and start
time, ``LockHolder``), a non-blocking take that keeps the descriptor (``try_flock``, for locks
held across calls such as the scheduler's), and ``pid_alive``.

``ExclusiveLock`` is the interface callers depend on, so another implementation (a
PostgreSQL advisory lock) can stand beside ``FileLock``. This module must not know what a
lock protects (callers pass the refusal), and must not block without a deadline.

``flock`` locks are advisory, per open file description, and dropped by the kernel when the
holding process dies (SIGKILL included), so a crashed holder never blocks a successor. They
hold between processes of one host; a data home shared across hosts over NFS is not
protected (the documented one-host-per-data-home limit).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.clock import Clock

POLL_SECONDS = 0.05
"""Pause between two attempts while waiting for a lock, in seconds."""

Refusal = Callable[[str], Exception]
"""Builds the error raised when a lock stays held past the deadline; it is given the holder
note, `` (pid N, since YYYY-MM-DD HH:MM:SS)`` or ``""`` when the holder left no stamp."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (``kill(pid, 0)``).

    A process of another user counts as alive (``PermissionError``). A pid from another host
    means nothing here: callers compare hosts first.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, as its holder stamped it."""

    pid: int
    since: str
    """When it took the lock, ``YYYY-MM-DD HH:MM:SS`` by the holder's engine clock."""

    def note(self) -> str:
        """`` (pid N, since ...)``, to append to a refusal."""
        return f" (pid {self.pid}, since {self.since})"


class Fence(Protocol):
    """What a holder asks, between phases of long work, to learn that it still holds its
    lock (a lock that can be lost while held: ``engine.advisory.AdvisoryFence``)."""

    def verify(self) -> None:
        """Return when the lock is still held; raise ``engine.errors.LockLost`` if not."""
        ...


class ExclusiveLock(Protocol):
    """One holder at a time across the processes of a data home."""

    def hold(self, *, refuse: Refusal, wait: float = 0.0, clock: Clock | None = None
             ) -> contextlib.AbstractContextManager[Fence | None]:
        """Hold the lock for the ``with`` block; see ``FileLock.hold``. The block gets a
        ``Fence`` when the lock can be lost while held (PostgreSQL), else ``None`` (a file
        lock lives as long as its holder's descriptor: it cannot be lost)."""
        ...

    def in_use(self) -> bool:
        """Whether some holder has the lock right now."""
        ...


def _open(path: Path) -> int:
    """A read-write descriptor on ``path``, created (with its folder) when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def try_flock(path: Path) -> int | None:
    """Take an exclusive ``flock`` on ``path`` without waiting; the caller keeps the lock.

    Returns:
        The descriptor holding the lock (close it, or ``fcntl.flock(fd, LOCK_UN)`` first, to
        release), or ``None`` when another open file description holds it.

    Raises:
        OSError: the file or its folder cannot be created or opened.
    """
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class FileLock:
    """An exclusive lock on one file of the data home (``fcntl.flock``).

    Two ``FileLock`` objects on one path are exclusive even within one process (each ``hold``
    opens its own file description).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def hold(self, *, refuse: Refusal, wait: float = 0.0,
             clock: Clock | None = None) -> Iterator[None]:
        """Hold the lock for the ``with`` block, waiting up to ``wait`` seconds for it.

        Args:
            refuse: builds the error to raise when the lock is still held at the deadline;
                it is given the holder note (``LockHolder.note``, or ``""``).
            wait: seconds to wait (polling every ``POLL_SECONDS``); 0 tries once.
            clock: when given, the holder stamps its pid and ``clock.now()`` into the file
                (read by ``holder``); without one the file's content is left alone.

        Raises:
            Exception: what ``refuse`` built (raised ``from None``).
            OSError: the lock file or its folder cannot be created or opened.
        """
        fd = _open(self.path)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = self.holder()
                        raise refuse(holder.note() if holder else "") from None
                    time.sleep(POLL_SECONDS)
            if clock is not None:
                stamp = json.dumps({"pid": os.getpid(),
                                    "since": f"{clock.now():%Y-%m-%d %H:%M:%S}"})
                os.ftruncate(fd, 0)
                os.pwrite(fd, stamp.encode("utf-8"), 0)
            yield
        finally:
            os.close(fd)  # drops the flock

    def in_use(self) -> bool:
        """Whether any holder (this process included) has the lock right now.

        A missing or unreadable file counts as free; the file is never created.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def holder(self) -> LockHolder | None:
        """The stamp the last holder left (it may have finished since); ``None`` when there is
        none or it cannot be read."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return LockHolder(int(raw["pid"]), str(raw["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
