"""``spamops store migrate --to postgresql://...``: a single-machine DuckDB home's history,
audit trail and spool, copied into an empty PostgreSQL database on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import psycopg
import pytest

from engine.clock import SimulatedClock
from engine.records import PredictionRecord
from engine.store import SCHEMA_VERSION, Store
from tests.cli_helpers import run_cli

T0 = datetime(2026, 11, 2, 8, 0, 0)


def _prediction(i: int) -> PredictionRecord:
    return PredictionRecord(id=f"p{i:05d}", ts=T0 + timedelta(minutes=i), text=f"text {i} ✓",
                            model_version=1, label="spam" if i % 4 == 0 else "ham",
                            spam_probability=0.5, latency_ms=1.0, source="test")


def _duckdb_home(home: Path) -> dict[str, int]:
    """A DuckDB home with predictions, labels, audit records and an orphan spool segment
    (a writer killed before its flush); returns the rows expected in the target."""
    clock = SimulatedClock(T0)
    store = Store(home / "spamops.duckdb", home / "spool", clock=clock, flush_seconds=60)
    store.migrate()
    store.log_predictions([_prediction(i) for i in range(120)])
    store.flush()
    store.add_feedback("p00001", "spam", "test")
    store.add_feedback("p00002", "spam", "test")
    for i in range(5):
        store.append_audit("op", "config", f"k{i}", {"i": i}, "why")
    store.close()
    dead = Store(home / "spamops.duckdb", home / "spool", clock=clock, flush_seconds=60)
    dead.log_predictions([_prediction(i) for i in range(120, 130)])
    dead._stop.set()
    segment = dead._spool._current
    assert segment is not None
    os.close(segment.fd)  # killed: the flock goes, the segment stays unsealed
    return {"predictions": 130, "feedback": 2}


def test_a_duckdb_home_moves_into_an_empty_postgresql_database(
        data_home: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _duckdb_home(data_home)
    run = run_cli(capsys, "store", "migrate", "--to", postgres_url, "--json")
    assert run.code == 0, run.err
    report = run.json()
    assert report["tables"]["predictions"] == expected["predictions"]
    assert report["tables"]["feedback"] == expected["feedback"]
    assert report["tables"]["audit_log"] >= 5
    assert report["spool_rows"] == 10
    assert report["audit"]["ok"] is True
    assert report["schema_version"] == SCHEMA_VERSION
    assert "predictions: 130/130 rows" in run.err  # progress on stderr

    target = Store(data_home / "spamops.duckdb", data_home / "spool",
                   clock=SimulatedClock(T0 + timedelta(days=1)), url=postgres_url)
    try:
        assert target.count_predictions() == 130
        assert target.verify_audit().ok
        assert target.table_counts()["audit_log"] == report["tables"]["audit_log"]
        # The sequences were moved past the copied ids, and the chain goes on.
        target.add_feedback("p00003", "spam", "test")
        assert target.append_audit("op", "after", "x", {}, "").seq == \
            report["tables"]["audit_log"] + 1
        assert target.verify_audit().ok
        [(labelled,)] = target.sql("SELECT count(*) FROM predictions "
                                   "WHERE true_label IS NOT NULL").rows
        assert labelled == 3
    finally:
        target.close()


def test_a_target_that_is_not_empty_is_refused_in_one_line(
        data_home: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _duckdb_home(data_home)
    assert run_cli(capsys, "store", "migrate", "--to", postgres_url).code == 0
    again = run_cli(capsys, "store", "migrate", "--to", postgres_url)
    assert again.code == 3
    assert again.err.count("\n") == 1 and "is not empty" in again.err
    with psycopg.connect(postgres_url) as con:  # nothing doubled by the refused second run
        assert con.execute("SELECT count(*) FROM predictions").fetchone() == (130,)
    other = postgres_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(other, autocommit=True) as con:
        con.execute("CREATE TABLE IF NOT EXISTS unrelated (id int)")
    try:
        foreign = run_cli(capsys, "store", "migrate", "--to", other)
        assert foreign.code == 3 and "other tables (unrelated" in foreign.err
    finally:
        with psycopg.connect(other, autocommit=True) as con:
            con.execute("DROP TABLE unrelated")


def test_store_migrate_help_and_bad_arguments(
        data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    helped = run_cli(capsys, "store", "migrate", "--help")
    assert helped.code == 0 and "--to URL" in helped.out and "--json" in helped.out
    bad = run_cli(capsys, "store", "migrate", "--to", "mysql://x/y")
    assert bad.code != 0 and "postgresql://" in bad.err and bad.err.count("\n") == 1
    empty = run_cli(capsys, "store", "migrate", "--to", "postgresql://127.0.0.1:1/x")
    assert empty.code != 0 and "no DuckDB history" in empty.err


def test_a_copy_that_fails_leaves_the_target_as_it_was(
        data_home: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One transaction: a prediction id twice in the DuckDB file (a history edited by hand)
    breaks PostgreSQL's unique key half way through, and nothing is left behind."""
    _duckdb_home(data_home)
    with duckdb.connect(str(data_home / "spamops.duckdb")) as con:
        con.execute("INSERT INTO predictions SELECT * FROM predictions WHERE id = 'p00007'")
    run = run_cli(capsys, "store", "migrate", "--to", postgres_url)
    assert run.code != 0
    error = run.err.splitlines()[-1]
    assert "duplicate key" in error and "p00007" in error
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_schema = 'public'").fetchone() == (0,)


def test_a_database_that_does_not_exist_is_one_error_line(
        data_home: Path, postgres_url: str) -> None:
    """The connection pool's own retry warnings ("error connecting in 'spamops-store'",
    "reconnection attempt ... failed") used to precede spamops' error on stderr. A real
    process: pytest's log capture would hide what Python's last-resort handler prints."""
    _duckdb_home(data_home)
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    run = subprocess.run([sys.executable, "-c", "from engine.cli import main; main()",
                          "--home", str(data_home), "store", "migrate", "--to", missing],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 4, run
    assert run.stderr.count("\n") == 1, run.stderr
    assert 'database "no_such_database" does not exist' in run.stderr
