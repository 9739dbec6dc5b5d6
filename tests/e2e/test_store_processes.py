"""The store shared by real OS processes: concurrent writers and readers, SIGKILL, audit, CLI.

Every test runs separate processes on one data home, as production does (API server,
monitor, dashboard, analysts), and checks what ends up in the DuckDB file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from engine.clock import SystemClock
from engine.store import Store

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("store_worker.py")
REPO = Path(__file__).resolve().parents[2]
DURATION = 10.0


def spamops_command() -> list[str]:
    script = Path(sys.executable).with_name("spamops")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from engine.cli import main; main()"]


def environment(home: Path) -> dict[str, str]:
    env = dict(os.environ, SPAMOPS_HOME=str(home), MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def spamops(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*spamops_command(), *args], capture_output=True, text=True,
                          env=environment(home), timeout=120, check=False)


def worker(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), args[0], str(home), *args[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment(home))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    done = spamops(home, "setup-database")
    assert done.returncode == 0, done.stderr
    return home


def rows(home: Path, query: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(home / "spamops.duckdb"), read_only=True) as con:
        return con.execute(query).fetchall()


def test_writers_and_readers_in_separate_processes_lose_and_duplicate_nothing(
        home: Path) -> None:
    writers = [worker(home, "predictions", str(DURATION), "w1"),
               worker(home, "decisions", str(DURATION), "d1")]
    reader_failures: list[str] = []
    reads = [0]

    def read_loop() -> None:
        deadline = time.monotonic() + DURATION
        queries = ["SELECT count(*) FROM predictions", "SELECT * FROM v_daily_traffic",
                   "SELECT count(*) FROM decisions"]
        mine = 0
        # Bounded in time, but at least two reads each even on a loaded machine, where one
        # `spamops sql` process can take seconds just to start.
        while time.monotonic() < deadline or mine < 2:
            mine += 1
            done = spamops(home, "sql", queries[reads[0] % len(queries)], "--csv")
            reads[0] += 1
            if done.returncode != 0 or done.stderr.strip():
                reader_failures.append(done.stderr.strip() or f"exit {done.returncode}")

    readers = [threading.Thread(target=read_loop) for _ in range(2)]
    for thread in readers:
        thread.start()
    outputs = [proc.communicate(timeout=120) for proc in writers]
    for thread in readers:
        thread.join()

    for proc, (_, err) in zip(writers, outputs, strict=True):
        assert proc.returncode == 0, err
        assert err.strip() == "", err
    assert reader_failures == []
    assert reads[0] >= 4
    predicted = outputs[0][0].split()
    decided = outputs[1][0].split()
    # Correctness, not speed: a decision + keyed audit record takes a connection open, a
    # checkpoint and an anchor write; on a loaded 2-core machine only a few fit in the run.
    assert len(predicted) > 1000 and len(decided) >= 3
    assert rows(home, "SELECT count(*), count(DISTINCT id) FROM predictions") == [
        (len(predicted), len(predicted))]
    assert {r[0] for r in rows(home, "SELECT id FROM predictions")} == set(predicted)
    assert rows(home, "SELECT count(*), count(DISTINCT id) FROM decisions") == [
        (len(decided), len(decided))]
    assert rows(home, "SELECT count(*) FROM audit_log WHERE action <> 'config.effective'") == [
        (len(decided),)]
    assert list((home / "spool").glob("*.jsonl")) == []
    verified = spamops(home, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_every_acknowledged_prediction_survives_sigkill(home: Path) -> None:
    proc = worker(home, "forever", "k")
    assert proc.stdout is not None
    acknowledged: list[str] = []
    started = time.monotonic()
    while len(acknowledged) < 2000 or time.monotonic() - started < 1.0:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "worker ended"
        acknowledged.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    acknowledged += rest.split()  # printed before the kill: acknowledged too
    before_restart = rows(home, "SELECT count(*) FROM predictions")[0][0]
    assert list((home / "spool").glob("*.jsonl")), "the kill should leave a spool segment"

    restarted = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock())
    restarted.migrate()
    restarted.close()

    stored = [r[0] for r in rows(home, "SELECT id FROM predictions")]
    assert len(stored) == len(set(stored)), "a prediction was ingested twice"
    assert set(acknowledged) <= set(stored)
    assert len(stored) > before_restart
    assert list((home / "spool").glob("*.jsonl")) == []


def test_audit_verify_passes_then_names_the_altered_and_the_deleted_record(
        home: Path) -> None:
    store = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock())
    for i in range(5):
        store.append_audit("alice", "config", f"thresholds.drift#{i}", {"to": 0.1 + i},
                           "tuning")
    store.close()
    clean = spamops(home, "audit", "verify")
    total = rows(home, "SELECT count(*) FROM audit_log")[0][0]
    assert total >= 5  # setup-database also recorded the effective configuration
    assert clean.returncode == 0 and f"{total} records verified" in clean.stdout

    with duckdb.connect(str(home / "spamops.duckdb")) as con:
        con.execute("UPDATE audit_log SET details = '{\"to\":9}' WHERE seq = 4")
    altered = spamops(home, "audit", "verify")
    assert altered.returncode == 1
    assert "record 4" in altered.stdout and "altered" in altered.stdout

    with duckdb.connect(str(home / "spamops.duckdb")) as con:
        con.execute("DELETE FROM audit_log WHERE seq = 2")
    deleted = spamops(home, "audit", "verify")
    assert deleted.returncode == 1
    assert "record 2 removed" in deleted.stdout


@pytest.mark.parametrize("query, fragment", [
    ("DELETE FROM predictions", "only read-only queries are allowed"),
    ("UPDATE audit_log SET actor = 'x'", "only read-only queries are allowed"),
    ("SELECT FROM WHERE", "syntax error"),
    ("SELECT * FROM no_such_table", "no_such_table"),
])
def test_bad_queries_get_one_clear_line(home: Path, query: str, fragment: str) -> None:
    done = spamops(home, "sql", query)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and fragment in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_missing_database_gets_one_clear_line(tmp_path: Path) -> None:
    done = spamops(tmp_path / "empty", "sql", "SELECT 1")
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "spamops setup-database" in done.stderr
    assert "Traceback" not in done.stderr
