"""The sidecar lock of a DuckDB history file: a BSD ``flock`` that spamops' own processes take
before DuckDB opens the file and let go of after DuckDB has closed it.

Why: DuckDB's own lock on the file is a POSIX record lock (``fcntl(F_SETLK)``). The kernel
keeps such locks per process and per file, not per descriptor, so a process *loses* it when
it closes ANY descriptor of the same file, including one it opened for a moment (a copy by
name, a size check that reads the header; DuckDB itself opens the file twice read-only to
check its magic bytes before it takes the lock), and two opens in one process never conflict.
Another process can then open the file read-write and commit, and the first process's
instance, which still believes it owns the file, later checkpoints over that commit: the
commit vanishes and the numbers it used are given out again (measured with DuckDB 2.0.1,
``tests/engine/test_store_file_lock.py``).

A ``flock`` belongs to the open file description instead: closing another descriptor never
drops it, and two descriptions conflict even within one process. So every connection of
``StoreBase._open`` holds one on ``<db folder>/locks/<db file name>.lock``, exclusive for a
read-write open and shared for a read-only one (DuckDB's own rule: one writer, or any number
of readers), from before ``duckdb.connect`` until after ``close()``. Whatever drops DuckDB's
POSIX lock inside a spamops process, no other spamops process can open the file meanwhile.

Within one process a second connection to the same file while one is open reuses DuckDB's
instance (DuckDB's instance cache, keyed by the path string) and shares the hold (counted);
one that would make a second instance (another path string for the file) or upgrade a
shared hold to exclusive is refused, as DuckDB refuses a different configuration.

Not covered: programs that do not take the sidecar (the ``duckdb`` CLI, a script opening the
file with DuckDB directly) rely on DuckDB's lock alone; see docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import threading
from pathlib import Path

LOCKS_DIR = "locks"
"""Folder beside the database file holding its sidecar (the data home's ``locks/``)."""


def sidecar_path(db_path: Path) -> Path:
    """``<db folder>/locks/<db file name>.lock`` of the file ``db_path`` names once symbolic
    links are followed, so every name of one file has one sidecar."""
    real = Path(os.path.realpath(db_path))
    return real.parent / LOCKS_DIR / f"{real.name}.lock"


@dataclasses.dataclass
class _Hold:
    fd: int
    shared: bool
    opened_as: str
    """The path string DuckDB was given: a nested open must use the same to share the
    instance."""
    count: int = 1


_HOLDS: dict[str, _Hold] = {}
"""This process's holds, by sidecar path."""
_KEY_OF: dict[str, str] = {}
"""The sidecar path ``acquire`` found for each database path string (``release`` reuses it:
following symbolic links costs more than the lock itself)."""
_GUARD = threading.Lock()


class SidecarRefused(Exception):
    """A nested open in this process that DuckDB would turn into a second instance."""


def _open(path: Path, *, shared: bool) -> int:
    """A descriptor on the lock file (created with its folder when missing); ``-1`` for a
    reader that may not create or write it (a read-only data home): readers cannot damage
    the file, so they go on with DuckDB's lock alone."""
    try:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # no locks/ folder yet
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if not shared or isinstance(exc, FileNotFoundError | IsADirectoryError):
            raise
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # flock needs no write access
        except OSError:
            return -1


def acquire(db_path: Path, opened_as: str, *, shared: bool) -> bool:
    """Take the sidecar of ``db_path`` for one connection, without waiting.

    Args:
        db_path: the database file (its sidecar is ``sidecar_path(db_path)``).
        opened_as: the path string the caller gives ``duckdb.connect``.
        shared: a read-only open (``LOCK_SH``); else exclusive (``LOCK_EX``).

    Returns:
        ``True`` when held (call ``release`` once per ``True``), ``False`` when another
        open file description holds it in a conflicting mode (retry later).

    Raises:
        SidecarRefused: this process holds it already for another path string.
        OSError: the lock file or its folder cannot be created for a read-write open (a
            read-only open that cannot have it goes on without it).
    """
    key = str(sidecar_path(db_path))
    with _GUARD:
        _KEY_OF[str(db_path)] = key
        hold = _HOLDS.get(key)
        if hold is not None:
            if hold.opened_as != opened_as:
                raise SidecarRefused(f"{db_path} is open in this process as {hold.opened_as}; "
                                     f"a second instance as {opened_as} would share its lock")
            if hold.shared and not shared:
                return False  # DuckDB refuses read-write beside read-only in one process too
            hold.count += 1
            return True
        fd = _open(Path(key), shared=shared)
        if fd >= 0:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
        _HOLDS[key] = _Hold(fd, shared, opened_as)
        return True


def release(db_path: Path) -> None:
    """Give back one ``acquire`` of ``db_path``'s sidecar; the last one unlocks it."""
    with _GUARD:
        key = _KEY_OF.get(str(db_path)) or str(sidecar_path(db_path))
        hold = _HOLDS.get(key)
        if hold is None:
            return
        hold.count -= 1
        if hold.count > 0:
            return
        del _HOLDS[key]
        if hold.fd >= 0:
            os.close(hold.fd)  # drops the flock


def holder(db_path: Path) -> int | None:
    """The pid that took a conflicting ``flock`` on the sidecar (from ``/proc/locks``), if
    the kernel says; for the busy message only."""
    try:
        inode = os.stat(sidecar_path(db_path)).st_ino
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                parts = line.split()
                if (len(parts) >= 6 and parts[1] == "FLOCK" and "->" not in parts
                        and parts[5].endswith(f":{inode}") and int(parts[4]) != os.getpid()):
                    return int(parts[4])
    except (OSError, ValueError):
        return None
    return None
