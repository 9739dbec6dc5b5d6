"""The history commands through ``engine.cli.main``, on a real data home."""

from __future__ import annotations

import json
import subprocess
import sys
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
