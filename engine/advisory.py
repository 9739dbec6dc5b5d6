"""Single-holder locks shared by every host of a PostgreSQL store: who holds them, and the
``engine.locks.ExclusiveLock`` that check and retrain take there.

Owns the holder's name as its lock session carries it (``application_name``: ``kind pid
host``, read back by any host as a ``SessionHolder`` with the session's start time), and
``AdvisoryHold``: "take it, waiting up to N seconds, else refuse naming the holder" on a
session-level advisory lock (``Store.advisory_lock``, the only place psycopg is touched), and
``AdvisoryFence``, with which its holder checks between phases that it still holds it (a lock
session can end while held). It must not know what a lock protects (callers pass the refusal
and the name of the work that stops). On a DuckDB store there is no
advisory lock: callers keep ``engine.locks.FileLock``.

A session-level advisory lock is held while its connection lives: PostgreSQL drops it when
the holder's process dies (the kernel closes the socket), when its host vanishes (TCP
keepalives end the session, ``dead_peer_seconds``), and when the server itself restarts (every
session ends). Source: postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from engine.clock import Clock
from engine.errors import LockLost, StoreUnreachable
from engine.locks import POLL_SECONDS, Refusal

if TYPE_CHECKING:
    from engine.store import Store
    from engine.store.postgres import AdvisoryLock

logger = logging.getLogger("spamops.locks")


def holder_text(kind: str) -> str:
    """How this process names itself in a lock's session: ``kind pid host`` (the host last,
    since PostgreSQL cuts ``application_name`` at 63 bytes)."""
    return f"{kind} {os.getpid()} {socket.gethostname()}"


@dataclass(frozen=True)
class SessionHolder:
    """Who holds an advisory lock, read from its session (any host can read it)."""

    kind: str
    """What sort of process: ``monitor``, ``console``, ``retrain``, ``check``, ..."""
    pid: int
    host: str
    """Its host name (cut short when very long: see ``holder_text``)."""
    since: datetime
    """When its lock session started, naive UTC (it connects just before taking the lock)."""

    @classmethod
    def parse(cls, text: str, since: datetime) -> SessionHolder:
        """Read ``holder_text``'s ``kind pid host`` back; any other text is kept whole as the
        kind (pid 0, host ``?``), so a foreign or cut name still shows."""
        kind, _, rest = text.partition(" ")
        pid_text, _, host = rest.partition(" ")
        if not pid_text.isdigit() or not host:
            return cls(text, 0, "?", since)
        return cls(kind, int(pid_text), host, since)

    def note(self) -> str:
        """`` (monitor on box, pid 812, since 2026-11-29 12:00:00 UTC)``, for a refusal."""
        return (f" ({self.kind} on {self.host}, pid {self.pid}, "
                f"since {self.since:%Y-%m-%d %H:%M:%S} UTC)")


def current_holder(lock: AdvisoryLock) -> SessionHolder | None:
    """Who holds ``lock`` right now on any host, or ``None`` (also when the server is away:
    then nobody can hold it, since every session ended with the server)."""
    try:
        session = lock.holder_session()
    except StoreUnreachable as exc:
        logger.warning("lock holder unknown: %s", exc)
        return None
    if session is None:
        return None
    return SessionHolder.parse(*session)


class AdvisoryFence:
    """The fence of one held advisory lock: ``verify()`` between phases of a check or a
    retrain asks the lock's own session whether it still holds the lock (``AdvisoryLock.held``:
    the session answers and ``pg_locks`` shows the lock for its backend pid; one round trip).

    A session-level lock is lost while held when its session ends (PostgreSQL restarted, the
    network dropped the connection); another host may then take it. The holder cannot stop
    that, only notice it before it writes an outcome: the idea of a fencing check (Kleppmann,
    "How to do distributed locking", 2016), done by the holder since PostgreSQL has no token
    the history's writes could carry.
    """

    def __init__(self, lock: AdvisoryLock, what: str) -> None:
        self._lock = lock
        self.what = what
        """What stops when the lock is lost, as the refusal names it: ``retrain``, ``check``."""
        self.lost = False
        """Set once ``verify`` found the lock gone (it stays lost: the session is closed)."""

    def verify(self) -> None:
        """Return while the lock is held.

        Raises:
            LockLost: ``<what> stopped: its lock on PostgreSQL was lost (server restarted?);
                another host may hold it now``.
        """
        if not self.lost and self._lock.held():
            return
        self.lost = True
        raise LockLost(f"{self.what} stopped: its lock on PostgreSQL was lost (server "
                       "restarted?); another host may hold it now")


class AdvisoryHold:
    """One holder at a time of the lock ``name`` across every host of a PostgreSQL store
    (an ``engine.locks.ExclusiveLock``).

    Each ``hold`` opens its own lock session, so two holds in one process are exclusive too.

    Args:
        store: a store whose ``advisory_lock`` is not ``None`` (PostgreSQL).
        name: the lock's name, e.g. ``retrain``.
        kind: how holders of this lock call themselves in ``SessionHolder.kind``.
        dead_peer_seconds: drop a vanished holder's session within about this long.
    """

    def __init__(self, store: Store, name: str, kind: str, *,
                 dead_peer_seconds: float | None = None) -> None:
        self._store = store
        self.name = name
        self.kind = kind
        self._dead_peer = dead_peer_seconds

    def _lock(self) -> AdvisoryLock:
        lock = self._store.advisory_lock(self.name, holder_text(self.kind),
                                         dead_peer_seconds=self._dead_peer)
        if lock is None:
            raise ValueError("advisory locks need a PostgreSQL store (store.url)")
        return lock

    @contextlib.contextmanager
    def hold(self, *, refuse: Refusal, wait: float = 0.0,
             clock: Clock | None = None) -> Iterator[AdvisoryFence]:
        """Hold the lock for the ``with`` block, waiting up to ``wait`` seconds for it; the
        block gets the lock's ``AdvisoryFence`` (``verify()`` between phases).

        ``clock`` is accepted for the ``ExclusiveLock`` interface and unused: the session's
        start time is the holder's stamp.

        Raises:
            Exception: what ``refuse`` built, given ``SessionHolder.note()`` (or ``""`` when
                the holder left before it could be named).
            StoreUnreachable: the PostgreSQL server cannot be reached.
        """
        del clock
        lock = self._lock()
        try:
            deadline = time.monotonic() + wait
            while not lock.try_acquire():
                if time.monotonic() >= deadline:
                    holder = current_holder(lock)
                    raise refuse(holder.note() if holder else "") from None
                time.sleep(POLL_SECONDS)
            fence = AdvisoryFence(lock, self.kind)
            yield fence
            if not fence.lost and not lock.held():
                logger.warning("the %s lock's session ended while it was held (PostgreSQL "
                               "restarted or the connection dropped)", self.name)
        finally:
            lock.release()

    def in_use(self) -> bool:
        """Whether some process on any host holds the lock right now."""
        return current_holder(self._lock()) is not None

    def holder(self) -> SessionHolder | None:
        """Who holds the lock right now, on any host."""
        return current_holder(self._lock())
