"""DuckDB's lock on the history file is a POSIX record lock: closing any other descriptor of
the file in the connected process drops it, and another process's commit made meanwhile is
later overwritten. These tests pin that hazard down (real DuckDB, a real second process) and
check that ``Store.copy_database_to`` (``spamops backup``) never does it, and that the sidecar
``flock`` every store connection holds (``engine.store.sidecar``) keeps other spamops processes
out whatever drops DuckDB's lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from engine.clock import SimulatedClock
from engine.errors import StoreError
from engine.records import PredictionRecord
from engine.store import Store, sidecar
from engine.store.backup import copy_open_file

REPO = Path(__file__).resolve().parents[2]


def _other_process_writes(path: Path) -> str:
    """Open ``path`` read-write from another process and insert a row; what it printed."""
    code = ("import duckdb, sys\n"
            "try:\n"
            f"    con = duckdb.connect({str(path)!r})\n"
            "    con.execute(\"INSERT INTO t VALUES (2)\")\n"
            "    con.close()\n"
            "    print('committed')\n"
            "except duckdb.Error as exc:\n"
            "    print('refused', str(exc).splitlines()[0])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (a INTEGER)")
        con.execute("INSERT INTO t VALUES (0)")
    return path


def test_closing_another_descriptor_of_the_file_loses_a_concurrent_commit(
        table: Path) -> None:
    """The hazard itself (DuckDB 2): why no code may open the file by name while connected."""
    con = duckdb.connect(str(table))
    assert _other_process_writes(table).startswith("refused")
    os.close(os.open(table, os.O_RDONLY))  # e.g. shutil.copyfile(path, ...) under the connection
    assert _other_process_writes(table) == "committed"  # the lock was gone
    con.execute("INSERT INTO t VALUES (1)")
    con.close()
    with duckdb.connect(str(table), read_only=True) as check:
        rows = [r[0] for r in check.execute("SELECT a FROM t ORDER BY a").fetchall()]
    assert rows == [0, 1]  # the other process's committed row 2 is gone


def test_copying_through_a_descriptor_opened_before_the_connection_keeps_the_lock(
        table: Path, tmp_path: Path) -> None:
    source = os.open(table, os.O_RDONLY)
    try:
        con = duckdb.connect(str(table))
        con.execute("CHECKPOINT")
        copy_open_file(source, tmp_path / "copy.duckdb")
        assert _other_process_writes(table).startswith("refused")
        con.close()
    finally:
        os.close(source)
    assert (tmp_path / "copy.duckdb").read_bytes() == table.read_bytes()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    sut = Store(tmp_path / "spamops.duckdb", tmp_path / "spool",
                clock=SimulatedClock(datetime(2026, 11, 2, 8)), flush_seconds=60)
    sut.migrate()
    yield sut
    sut.close()


def test_a_backup_copy_leaves_the_file_locked_for_as_long_as_it_holds_it(
        store: Store, tmp_path: Path) -> None:
    with store._connection(write=True) as con:
        con.execute("CREATE TABLE t (a INTEGER)")
    counts = store.copy_database_to(tmp_path / "backup.duckdb")
    assert counts["t"] == 0
    # Right after the copy this process holds no connection, so another process may write...
    assert _other_process_writes(store.db_path) == "committed"
    # ...and its row stays: nothing of the copy's hold overwrote it.
    with duckdb.connect(str(store.db_path), read_only=True) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (1,)
    with duckdb.connect(str(tmp_path / "backup.duckdb"), read_only=True) as copy:
        assert copy.execute("SELECT count(*) FROM t").fetchone() == (0,)


# The sidecar lock (engine.store.sidecar) -------------------------------------------------
T0 = datetime(2026, 11, 2, 8)


def _prediction(id: str) -> PredictionRecord:
    return PredictionRecord(id=id, ts=T0, text=f"text of {id}", model_version=1, label="ham",
                            spam_probability=0.1, latency_ms=0.1, source="test")


def _other_store_logs(store: Store, id: str) -> str:
    """Another spamops process (its own ``Store`` on the same file, 1 s busy timeout) logs a
    prediction and ingests it: ``committed`` or ``busy``."""
    code = textwrap.dedent(f"""
        from datetime import datetime
        from pathlib import Path
        from engine.clock import SimulatedClock
        from engine.errors import StoreBusy
        from engine.records import PredictionRecord
        from engine.store import Store
        store = Store(Path({str(store.db_path)!r}), Path({str(store.spool_dir)!r}),
                      clock=SimulatedClock(datetime(2026, 11, 2, 9)), busy_timeout=1.0,
                      recover=False, flush_seconds=60)
        store.log_prediction(PredictionRecord(
            id={id!r}, ts=datetime(2026, 11, 2, 8), text="other", model_version=1,
            label="ham", spam_probability=0.1, latency_ms=0.1, source="test"))
        try:
            store.flush()
            print("committed")
        except StoreBusy:
            print("busy")  # its segment stays in the spool, for recovery
        store.close()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _ids(store: Store) -> list[str]:
    with duckdb.connect(str(store.db_path), read_only=True) as check:
        return [r[0] for r in check.execute("SELECT id FROM predictions ORDER BY id")
                .fetchall()]


def test_a_dropped_duckdb_lock_lets_no_other_spamops_process_commit_what_is_then_lost(
        store: Store) -> None:
    """Whatever drops DuckDB's POSIX lock in a process holding the history open, another
    spamops process cannot open the file before that process closes it: it waits (here: its
    busy timeout), and nothing it was told is committed is overwritten."""
    store.log_prediction(_prediction("mine"))
    store.flush()
    with store.session():
        assert store.count_predictions() == 1
        os.close(os.open(store.db_path, os.O_RDONLY))  # DuckDB's lock is gone now
        # Without the sidecar the other process opens the file and commits ("committed"),
        # and the held connection's commit and checkpoint below write over it.
        assert _other_store_logs(store, "other") == "busy"
        store.log_prediction(_prediction("mine-2"))
        store.flush()
    assert store.recover_spool() == 1  # the other process's segment, left in the spool
    assert _ids(store) == ["mine", "mine-2", "other"]


def test_other_processes_write_again_once_the_connection_is_closed(store: Store) -> None:
    with store.session():
        store.log_prediction(_prediction("mine"))
        store.flush()
    assert _other_store_logs(store, "other") == "committed"
    assert _ids(store) == ["mine", "other"]
    assert not sidecar._HOLDS  # every hold given back with its connection


def test_readers_share_the_file_and_a_writer_waits_for_them(store: Store) -> None:
    with store.reading():
        assert store.schema_version() > 0
        reader = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(f"""
                from datetime import datetime
                from pathlib import Path
                from engine.clock import SimulatedClock
                from engine.store import Store
                store = Store(Path({str(store.db_path)!r}), Path({str(store.spool_dir)!r}),
                              clock=SimulatedClock(datetime(2026, 11, 2)), read_only=True,
                              busy_timeout=1.0)
                print(store.schema_version())
            """)], capture_output=True, text=True, timeout=120, check=True, cwd=REPO)
        assert int(reader.stdout) == store.schema_version()
        assert _other_store_logs(store, "other") == "busy"


def test_a_second_instance_of_the_file_in_one_process_is_refused(
        store: Store, tmp_path: Path) -> None:
    """Another name of the same file (a symbolic link) would make DuckDB open a second
    instance beside the held one (its cache is keyed by the path string): refused."""
    link = tmp_path / "link.duckdb"
    link.symlink_to(store.db_path)
    other = Store(link, store.spool_dir, clock=SimulatedClock(T0), recover=False)
    with store.session():
        store.log_prediction(_prediction("mine"))
        store.flush()
        with pytest.raises(StoreError, match="second instance"):
            other.schema_version()
        assert _other_store_logs(store, "other") == "busy"  # the held lock still stands
    other.close()
    assert other.schema_version() == store.schema_version()  # alone, it opens as usual
