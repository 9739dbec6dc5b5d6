"""``spamops sql`` cannot write: not the database, not a file, not the spool (issue 14, item 1).

Every query here goes through the real ``spamops`` command on a real data home; the check
is on the file system afterwards, not on a message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.services import Services
from tests.cli_helpers import run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(data_home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run_cli(capsys, "setup-database").code == 0
    return data_home


def files_under(*roots: Path) -> set[Path]:
    return {p for root in roots if root.exists() for p in root.rglob("*")}


@pytest.mark.parametrize("template", [
    "EXPLAIN ANALYZE COPY (SELECT 'x' AS x) TO '{out}/out.csv'",
    "EXPLAIN ANALYSE COPY (SELECT 'x' AS x) TO '{out}/out.csv'",
    "EXPLAIN (FORMAT json) COPY (SELECT 'x' AS x) TO '{out}/out.csv'",
    "COPY (SELECT 'x' AS x) TO '{out}/out.csv'",
    "COPY (SELECT 'x' AS x) TO '{spool}/forged.jsonl'",
    "EXPLAIN ANALYZE COPY (SELECT 'x' AS x) TO '{spool}/forged.jsonl'",
    "SELECT 1; COPY (SELECT 'x' AS x) TO '{out}/out.csv'",
    "EXPORT DATABASE '{out}/dump'",
    "ATTACH '{out}/other.duckdb' AS other",
    "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
    "EXPLAIN ANALYZE INSERT INTO predictions SELECT * FROM predictions",
    "SET enable_external_access = true",
    "INSTALL httpfs",
    "SELECT * FROM read_csv('{out}/../../../etc/passwd')",
    "SELECT * FROM glob('{out}/*')",
    "SELECT * FROM read_text('{db}')",
])
def test_analyst_sql_cannot_write_or_touch_files(home: Path, tmp_path: Path, template: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    query = template.format(out=out, spool=home / "spool", db=home / "spamops.duckdb")
    before = files_under(out, home / "spool")
    done = run_cli(capsys, "sql", query)
    assert done.code != 0, done.out
    assert done.err.startswith("error: ") and done.err.count("\n") == 1
    assert files_under(out, home / "spool") == before


@pytest.mark.parametrize("query", [
    "EXPLAIN SELECT count(*) FROM predictions",
    "EXPLAIN ANALYZE SELECT count(*) FROM predictions",
    "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
    "FROM v_daily_traffic",
    "DESCRIBE predictions",
    "SUMMARIZE predictions",
    "SHOW TABLES",
])
def test_reads_still_work(home: Path, query: str, capsys: pytest.CaptureFixture[str]) -> None:
    done = run_cli(capsys, "sql", query, "--json")
    assert done.code == 0, done.err
    assert "columns" in json.loads(done.out)


def test_the_refusal_names_what_the_explain_wraps(home: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    done = run_cli(capsys, "sql", "EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'")
    assert "this is an EXPLAIN COPY statement" in done.err


FORGED = """
import json, sys
from pathlib import Path
spool = Path(sys.argv[1])
spool.mkdir(parents=True, exist_ok=True)
with open(spool / "deadhost-1-abcdef12-000001.jsonl", "w") as out:
    for i in range(500):
        out.write(json.dumps({"id": f"forged-{i}", "ts": "2026-01-01T00:00:00",
                              "text": "forged", "model_version": 1, "label": "ham",
                              "spam_probability": 0.01, "latency_ms": 0.1,
                              "source": "api"}) + "\\n")
"""

WRITER = """
import sys, time
from engine.config import load_settings
from engine.records import PredictionRecord
from engine.services import Services
services = Services(load_settings())
store = services.store
for i in range(int(sys.argv[1])):
    store.log_prediction(PredictionRecord(id=f"real-{i}", ts=store.clock.now(), text="hi",
                                          model_version=1, label="ham",
                                          spam_probability=0.1, latency_ms=0.1,
                                          source="api"))
print("logged", flush=True)
time.sleep(120)
"""


def spamops_env(home: Path) -> dict[str, str]:
    return dict(os.environ, SPAMOPS_HOME=str(home), MLFLOW_DISABLE_TELEMETRY="true",
                PYTHONPATH=str(REPO))


@pytest.mark.slow
def test_spool_recovery_refuses_a_forged_segment_and_keeps_a_killed_writers(
        home: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A forged segment dropped into spool/ by another program is refused with a warning;
    the segment of a writer killed with SIGKILL is still recovered (real processes)."""
    env = spamops_env(home)
    subprocess.run([sys.executable, "-c", FORGED, str(home / "spool")], check=True, env=env)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, "40"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "logged"
    writer.send_signal(signal.SIGKILL)
    _, writer_err = writer.communicate()

    recovered = subprocess.run(
        [sys.executable, "-c", "from engine.cli import main; main()", "setup-database"],
        env=env, capture_output=True, text=True, timeout=120)
    assert recovered.returncode == 0, recovered.stderr

    reader = Services(load_settings(), read_only=True)
    ids = {row[0] for row in reader.sql("SELECT id FROM predictions").rows}
    assert {f"real-{i}" for i in range(40)} <= ids
    assert not [i for i in ids if i.startswith("forged")]
    # Whichever writer started first (here the killed one) refused it, saying why.
    warnings = writer_err + recovered.stderr
    assert "deadhost-1-abcdef12-000001.jsonl refused: it was not written by spamops" in warnings
    assert "recovered 40 logged predictions" in recovered.stderr
    assert (home / "spool" / "refused" / "deadhost-1-abcdef12-000001.jsonl").exists()
    assert list((home / "spool").glob("*.jsonl")) == []
    ledger = reader.sql("SELECT rows, sha256 FROM spool_segments").rows
    assert ledger and all(rows > 0 and len(digest) == 64 for rows, digest in ledger)


def test_a_sealed_segment_edited_after_it_was_closed_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from engine.clock import SystemClock
    from engine.records import PredictionRecord
    from engine.store import Store

    db, spool = tmp_path / "spamops.duckdb", tmp_path / "spool"
    writer = Store(db, spool, clock=SystemClock(), flush_seconds=60)
    writer.migrate()
    writer.log_predictions([PredictionRecord(id=f"p{i}", ts=writer.clock.now(), text="hi",
                                             model_version=1, label="ham",
                                             spam_probability=0.1, latency_ms=0.1,
                                             source="api") for i in range(3)])
    writer._stop.set()
    closed = writer._spool.rotate()  # closed and sealed, not yet ingested...
    for segment in closed:
        os.close(segment.fd)  # ...when its process dies
    path = closed[0].path
    path.write_bytes(path.read_bytes().replace(b'"label": "ham"', b'"label": "spam"'))

    recovering = Store(db, spool, clock=SystemClock())

    assert recovering.count_predictions() == 0
    assert "do not match the checksum in its seal" in caplog.text
    assert (spool / "refused" / path.name).exists()
    recovering.close()


def test_a_query_too_big_for_memory_cannot_spill_files_into_the_home(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DuckDB spills a query past ``memory_limit`` to ``<db>.tmp/`` in the data home (up to 90%
    of the free disk), even read-only with external access off: the analyst's connection has
    no temp directory, so such a query fails instead of writing files."""
    done = run_cli(capsys, "sql", "SELECT current_setting('temp_directory') AS temp", "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["rows"] == [{"temp": ""}]
    assert not (home / "spamops.duckdb.tmp").exists()
