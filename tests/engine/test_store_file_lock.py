"""DuckDB's lock on the history file is a POSIX record lock: closing any other descriptor of
the file in the connected process drops it, and another process's commit made meanwhile is
later overwritten. These tests pin that hazard down (real DuckDB, a real second process) and
check that ``Store.copy_database_to`` (``spamops backup``) never does it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from engine.clock import SimulatedClock
from engine.store import Store
from engine.store.backup import copy_open_file


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
