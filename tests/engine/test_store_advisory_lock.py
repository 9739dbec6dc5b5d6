"""The store's session-level advisory lock on a real PostgreSQL (for a single scheduler
across hosts): one holder, visible to everyone, released by the server when the holder's
process dies; none on DuckDB, where file locks do that."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

from engine.clock import SimulatedClock
from engine.store import Store

REPO = Path(__file__).resolve().parents[2]


def _store(tmp_path: Path, url: str | None) -> Store:
    return Store(tmp_path / "spamops.duckdb", tmp_path / "spool",
                 clock=SimulatedClock(datetime(2026, 11, 2)), url=url)


def test_one_holder_at_a_time_and_everyone_sees_who(tmp_path: Path, postgres_url: str) -> None:
    store = _store(tmp_path, postgres_url)
    first = store.advisory_lock("scheduler", "host-a pid=1")
    second = store.advisory_lock("scheduler", "host-b pid=2")
    assert first is not None and second is not None
    try:
        assert second.holder() is None
        assert first.try_acquire() and first.try_acquire()  # again: still ours
        assert not second.try_acquire()
        assert second.holder() == "host-a pid=1"
        first.release()
        assert not first.held()
        assert second.try_acquire() and second.holder() == "host-b pid=2"
    finally:
        first.close()
        second.close()
        store.close()


def test_a_holder_killed_with_sigkill_frees_the_lock(tmp_path: Path, postgres_url: str) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from datetime import datetime
        from pathlib import Path
        from engine.clock import SimulatedClock
        from engine.store import Store
        store = Store(Path({str(tmp_path)!r}) / "x.duckdb", Path({str(tmp_path)!r}) / "spool",
                      clock=SimulatedClock(datetime(2026, 11, 2)), url={postgres_url!r})
        lock = store.advisory_lock("scheduler", "host-a pid=killed")
        assert lock.try_acquire()
        print("held", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    store = _store(tmp_path, postgres_url)
    lock = store.advisory_lock("scheduler", "host-b pid=2")
    assert lock is not None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not lock.try_acquire() and lock.holder() == "host-a pid=killed"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 10
        while not lock.try_acquire():
            assert time.monotonic() < deadline, "the dead holder's lock was never released"
            time.sleep(0.05)
        assert lock.holder() == "host-b pid=2"
    finally:
        holder.kill()
        holder.wait()
        lock.close()
        store.close()


def test_duckdb_has_no_advisory_lock(tmp_path: Path) -> None:
    store = _store(tmp_path, None)
    assert store.advisory_lock("scheduler", "me") is None
    store.close()
