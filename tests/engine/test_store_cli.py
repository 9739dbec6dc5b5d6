"""The history commands through ``engine.cli.main``, on a real data home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.cli_helpers import CliRun, run_cli
from tests.postgres import migrate_to_postgres

Cli = Callable[..., CliRun]


@pytest.fixture
def spamops(capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*args: str) -> CliRun:
        return run_cli(capsys, *args)

    return run


@pytest.fixture
def history(trained_home: Path, store_url: str | None,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """The trained home, on either backend: for PostgreSQL its history is moved there first
    (``spamops store migrate``) and ``SPAMOPS_STORE__URL`` points the commands at it."""
    if store_url is not None:
        migrate_to_postgres(trained_home, store_url)
        monkeypatch.setenv("SPAMOPS_STORE__URL", store_url)
    return trained_home


def _tamper(home: Path, store_url: str | None, statement: str) -> None:
    if store_url is None:
        with duckdb.connect(str(home / "spamops.duckdb")) as con:
            con.execute(statement)
    else:
        import psycopg

        with psycopg.connect(store_url) as con:
            con.execute(statement)  # type: ignore[arg-type]


def test_setup_database_on_postgresql_reports_the_url_and_sql_reads_it(
        data_home: Path, spamops: Cli, postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    early = spamops("sql", "SELECT count(*) FROM predictions")
    assert early.code != 0 and "spamops setup-database" in early.err
    assert early.err.count("\n") == 1
    first = spamops("setup-database", "--json")
    assert first.code == 0, first.err
    assert json.loads(first.out)["database"] == postgres_url
    assert not (data_home / "spamops.duckdb").exists()
    query = "SELECT n, 'row ' || n AS label FROM generate_series(0, 4) AS n"
    as_json = json.loads(spamops("sql", query, "--json", "--limit", "2").out)
    assert as_json["rows"] == [{"n": 0, "label": "row 0"}, {"n": 1, "label": "row 1"}]
    refused = spamops("sql", "DELETE FROM predictions")
    assert refused.code != 0 and refused.err.count("\n") == 1
    assert "this is a DELETE statement" in refused.err and "Traceback" not in refused.err
    gone = spamops("sql", "SELECT * FROM missing_table")
    assert gone.code != 0 and "missing_table" in gone.err


def test_setup_database_creates_and_reports_the_version(data_home: Path, spamops: Cli) -> None:
    first = spamops("setup-database", "--json")
    assert first.code == 0
    assert json.loads(first.out)["schema_version"] >= 2
    again = spamops("setup-database")
    assert again.code == 0 and "schema version" in again.out
    assert (data_home / "spamops.duckdb").exists()


@pytest.mark.parametrize("args, fragment", [
    (("sql", "DELETE FROM predictions"), "only read-only queries are allowed"),
    (("sql", "SELEC 1"), "syntax error"),
    (("sql", "SELECT * FROM missing_table"), "missing_table"),
])
def test_bad_queries_get_one_line_and_a_non_zero_exit(data_home: Path, spamops: Cli,
                                                      args: tuple[str, ...],
                                                      fragment: str) -> None:
    assert spamops("setup-database").code == 0
    result = spamops(*args)
    assert result.code != 0
    assert result.err.count("\n") == 1 and result.err.startswith("error: ")
    assert fragment in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("args", [
    ("sql", "SELECT 1"), ("audit", "verify"), ("audit", "list"), ("export", "out"),
])
def test_readers_on_a_missing_database_say_to_set_it_up(data_home: Path, spamops: Cli,
                                                         args: tuple[str, ...]) -> None:
    result = spamops(*args)
    assert result.code != 0
    assert "spamops setup-database" in result.err and result.err.count("\n") == 1
    assert not (data_home / "spamops.duckdb").exists()


def test_sql_prints_a_table_json_or_csv_and_honours_limit(data_home: Path, spamops: Cli) -> None:
    spamops("setup-database")
    query = "SELECT range AS n, 'row ' || range AS label FROM range(5)"
    table = spamops("sql", query)
    assert table.out.splitlines()[0].split() == ["n", "label"]
    assert "row 4" in table.out
    as_json = json.loads(spamops("sql", query, "--json", "--limit", "2").out)
    assert as_json["rows"] == [{"n": 0, "label": "row 0"}, {"n": 1, "label": "row 1"}]
    assert as_json["truncated"] is True
    as_csv = spamops("sql", query, "--csv", "--limit", "0").out.splitlines()
    assert as_csv[0] == "n,label" and as_csv[-1] == "4,row 4"
    assert spamops("sql", query, "--json", "--csv").code != 0


def test_a_long_analyst_query_stops_at_the_statement_timeout_on_either_backend(
        data_home: Path, spamops: Cli, store_url: str | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if store_url is not None:
        monkeypatch.setenv("SPAMOPS_STORE__URL", store_url)
    monkeypatch.setenv("SPAMOPS_STORE__STATEMENT_TIMEOUT_SECONDS", "1")
    assert spamops("setup-database").code == 0
    endless = ("SELECT count(*) FROM range(100000000000::BIGINT)" if store_url is None
               else "SELECT count(*) FROM generate_series(1, 100000000000)")
    started = time.monotonic()
    stopped = spamops("sql", endless)
    assert time.monotonic() - started < 20  # unbounded, this runs for many minutes
    assert stopped.code != 0
    assert stopped.err == "error: query stopped after 1 s (store.statement_timeout_seconds)\n"
    assert spamops("sql", "SELECT 42 AS n", "--json").code == 0  # the next query runs


def test_sql_json_carries_every_duckdb_type_an_analyst_meets(data_home: Path,
                                                             spamops: Cli) -> None:
    """``SELECT 0.5`` is a DECIMAL in DuckDB: --json failed with "internal error: TypeError:
    Object of type Decimal is not JSON serializable", as did UUID, BLOB, INTERVAL and TIME."""
    spamops("setup-database")
    query = ("SELECT 0.5 AS share, [1.5, NULL] AS shares, "
             "'6d08e6ae-bb14-4e5e-b89b-f42d8afa8ef7'::UUID AS id, 'ab'::BLOB AS raw, "
             "INTERVAL 90 MINUTE AS span, '12:30:05'::TIME AS at, {'n': 2.25} AS nested")
    done = spamops("sql", query, "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["rows"] == [{
        "share": 0.5, "shares": [1.5, None], "id": "6d08e6ae-bb14-4e5e-b89b-f42d8afa8ef7",
        "raw": "6162", "span": 5400.0, "at": "12:30:05", "nested": {"n": 2.25}}]


def test_store_reingest_puts_rejected_rows_back_once_and_says_why_not(
        data_home: Path, spamops: Cli) -> None:
    assert spamops("setup-database").code == 0
    rejected = data_home / "spool" / "rejected"
    rejected.mkdir(parents=True)
    row = {"id": "r1", "ts": "2026-11-29T12:00:00", "text": "hi", "model_version": 1,
           "label": "ham", "spam_probability": 0.1, "latency_ms": 1.0, "source": "api"}
    (rejected / "seg.jsonl").write_text(json.dumps(row) + "\n")
    (rejected / "copy.jsonl").write_text(json.dumps(row) + "\n")
    first = spamops("store", "reingest", str(rejected / "seg.jsonl"), "--json")
    assert first.code == 0, first.err
    assert json.loads(first.out)["rows_added"] == 1
    assert (rejected / "seg.jsonl.reingested").exists()
    assert json.loads(spamops("store", "reingest", str(rejected / "copy.jsonl"),
                              "--json").out)["rows_added"] == 0
    del row["source"]
    (rejected / "bad.jsonl").write_text(json.dumps(row) + "\n")
    bad = spamops("store", "reingest", str(rejected / "bad.jsonl"))
    assert bad.code != 0 and bad.err.count("\n") == 1 and "no source" in bad.err
    counted = json.loads(spamops("sql", "--json", "SELECT count(*) AS n FROM predictions").out)
    assert counted["rows"] == [{"n": 1}]
    audit = json.loads(spamops("audit", "list", "--json").out)
    assert [r["action"] for r in audit if r["action"] == "spool.reingested"] == [
        "spool.reingested"] * 2


def test_store_reingest_takes_a_hand_edited_file_and_refuses_a_wrong_one_in_one_line(
        data_home: Path, spamops: Cli) -> None:
    """The help says to edit a rejected file's JSON lines: an editor may drop the final
    newline or leave a blank line, and neither makes a valid row invalid. A file that is not
    spool rows at all is one error line naming the first bad line, not a warning per line.
    Run as a real process, so stderr holds everything the command logs."""
    assert spamops("setup-database").code == 0
    rejected = data_home / "spool" / "rejected"
    rejected.mkdir(parents=True)
    rows = [{"id": f"e{n}", "ts": "2026-11-29T12:00:00", "text": "hi", "model_version": 1,
             "label": "ham", "spam_probability": 0.1, "latency_ms": 1.0, "source": "api"}
            for n in range(3)]
    no_final_newline = rejected / "cut.jsonl"
    no_final_newline.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[1]))
    blank_line = rejected / "blank.jsonl"
    blank_line.write_text(json.dumps(rows[2]) + "\n\n")
    env = {**os.environ, "SPAMOPS_HOME": str(data_home)}

    def reingest(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).parent / "spamops"), "store",
                               "reingest", str(path), "--json"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    for edited, rows_in_it in ((no_final_newline, 2), (blank_line, 1)):
        done = reingest(edited)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["rows_added"] == rows_in_it
    not_rows = rejected / "notes.jsonl"
    not_rows.write_text(json.dumps(rows[0]) + "\n" + "".join(f"note {n}\n" for n in range(500)))
    refused = reingest(not_rows)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr[:500]
    assert "notes.jsonl line 2" in refused.stderr and "500 of 501" in refused.stderr
    assert not_rows.exists()  # left as it was, nothing added


def test_predict_logs_and_feedback_labels_through_the_cli(history: Path, spamops: Cli) -> None:
    predicted = spamops("predict", "--json", "WINNER! claim your free prize now")
    assert predicted.code == 0
    prediction_id = json.loads(predicted.out)["prediction_id"]
    logged = json.loads(spamops("sql", "--json",
                                "SELECT id, source, latency_ms > 0 AS timed FROM predictions").out)
    assert logged["rows"] == [{"id": prediction_id, "source": "cli", "timed": True}]
    assert spamops("feedback", prediction_id, "spam").code == 0
    accuracy = json.loads(spamops("sql", "--json", "SELECT * FROM v_daily_accuracy").out)
    assert accuracy["rows"][0]["labelled"] == 1
    unknown = spamops("feedback", "no-such-id", "ham")
    assert unknown.code != 0 and "unknown prediction id" in unknown.err
    assert spamops("feedback", prediction_id, "eggs").code != 0


def test_train_promote_and_rollback_are_audited(history: Path, spamops: Cli,
                                                store_url: str | None) -> None:
    assert spamops("train").code == 0
    assert spamops("promote", "2").code == 0
    assert spamops("rollback").code == 0
    all_records = json.loads(spamops("audit", "list", "--json").out)
    # Each writer start may also record the effective configuration ("config.effective").
    records = [r for r in all_records if r["action"] != "config.effective"]
    # The first version's adoption as champion is a recorded alias move of its own.
    assert [r["action"] for r in records] == ["champion.adopted", "train", "train", "promote",
                                              "rollback"]
    assert records[3]["subject"] == "v2" and records[3]["actor"]
    versions = json.loads(spamops("sql", "--json", "SELECT version FROM model_versions").out)
    assert [r["version"] for r in versions["rows"]] == [1, 2]
    verified = spamops("audit", "verify")
    assert verified.code == 0 and f"{len(all_records)} records verified" in verified.out

    _tamper(history, store_url, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    broken = spamops("audit", "verify")
    assert broken.code == 1 and "record 3" in broken.out
    as_json = json.loads(spamops("audit", "verify", "--json").out)
    assert as_json["ok"] is False and as_json["first_bad_seq"] == 3


def test_export_writes_parquet_folders(history: Path, spamops: Cli, tmp_path: Path) -> None:
    spamops("predict", "hello there")
    result = json.loads(spamops("export", str(tmp_path / "out"), "--json").out)
    assert {"predictions", "audit_log", "model_versions"} <= set(result["tables"])
    assert list((tmp_path / "out" / "predictions").glob("day=*/*.parquet"))


def test_every_store_command_has_help() -> None:
    for args in (["setup-database"], ["sql"], ["export"], ["audit", "verify"],
                 ["audit", "list"], ["feedback"]):
        done = subprocess.run([sys.executable, "-c", "from engine.cli import main; main()",
                               *args, "--help"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "Usage:" in done.stdout


def test_the_cli_does_not_load_duckdb_or_pandas_at_start_up() -> None:
    code = ("import sys; import engine.cli; "
            "print(sorted(m for m in ('duckdb', 'pandas', 'pyarrow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
