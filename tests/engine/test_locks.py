"""engine.locks: the one flock-with-deadline, probed and refused across real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.errors import Busy
from engine.locks import FileLock, pid_alive, try_flock

HOLD = """
import sys, time
from datetime import datetime
from pathlib import Path
from engine.clock import SimulatedClock
from engine.locks import FileLock
lock = FileLock(Path(sys.argv[1]))
clock = SimulatedClock(datetime(2026, 1, 2, 3, 4, 5))
with lock.hold(refuse=lambda h: RuntimeError(h), clock=clock):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@contextmanager
def held_elsewhere(path: Path, seconds: float = 30.0) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child
    finally:
        child.kill()
        child.wait()


def test_a_lock_held_by_another_process_is_refused_naming_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "retrain.lock"
    lock = FileLock(path)
    with held_elsewhere(path) as child:
        assert lock.in_use()
        started = time.monotonic()
        with pytest.raises(Busy) as refused, lock.hold(
                wait=0.3, refuse=lambda holder: Busy(f"a retrain is running{holder}")):
            pass
        assert time.monotonic() - started >= 0.3
        assert str(refused.value) == (f"a retrain is running (pid {child.pid}, "
                                      "since 2026-01-02 03:04:05)")
    # The kernel dropped the lock with the process (killed, not released).
    assert not lock.in_use()
    with lock.hold(refuse=lambda holder: Busy(holder), clock=SimulatedClock(datetime(2026, 1, 3))):
        holder = lock.holder()
        assert holder is not None and holder.pid == os.getpid()
        assert holder.since == "2026-01-03 00:00:00"


def test_a_wait_rides_over_a_short_holder(tmp_path: Path) -> None:
    path = tmp_path / "check.lock"
    with held_elsewhere(path, seconds=0.3), FileLock(path).hold(
            wait=10.0, refuse=lambda holder: Busy(holder)):
        assert FileLock(path).in_use()


def test_try_flock_and_in_use_never_create_what_they_do_not_take(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "scheduler.lock"
    assert not FileLock(path).in_use() and not path.exists()
    fd = try_flock(path)
    assert fd is not None
    try:
        assert try_flock(path) is None  # another open file description, same process
        assert FileLock(path).in_use()
    finally:
        os.close(fd)
    assert not FileLock(path).in_use()


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
