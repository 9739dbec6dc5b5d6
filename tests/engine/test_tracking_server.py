"""``spamops mlflow-server``'s command line, and a tracking server that cannot be reached.

The server itself runs in tests/e2e/test_tracking_server.py (slow: it takes ~25 s to start);
here: the flags and defaults it is started with, and the one line a registry command prints
when nothing listens at ``mlflow_tracking_uri`` (a real closed loopback port, no mock).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from engine.errors import RegistryUnavailable, StoreError
from engine.registry import Registry, unreachable_reason
from engine.tracking_server import (
    default_backend_store_uri,
    ensure_schema,
    mask_password,
    mlflow_backend_for_store,
    search_path_schema,
    server_command,
)
from tests.cli_helpers import run_cli


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_postgres_store_shares_its_database_in_the_mlflow_schema() -> None:
    uri = mlflow_backend_for_store("postgresql://ops:s3cret@db.example:5433/spamops"
                                   "?sslmode=require")
    # psycopg 3 (psycopg2 is not installed), same server/user/database, MLflow's own schema.
    assert uri == ("postgresql+psycopg://ops:s3cret@db.example:5433/spamops"
                   "?sslmode=require&options=-csearch_path%3Dmlflow")
    assert default_backend_store_uri("postgres://ops@db/spamops", Path("h")).startswith(
        "postgresql+psycopg://ops@db/spamops?options=")


def test_duckdb_store_gets_a_sqlite_file_in_the_home(tmp_path: Path) -> None:
    assert default_backend_store_uri(None, tmp_path) == (
        f"sqlite:///{tmp_path.resolve()}/mlflow-server/mlflow.db")
    assert default_backend_store_uri("duckdb:///x/spamops.duckdb", tmp_path).startswith(
        "sqlite:///")


def test_server_command_serves_artifacts_quietly(tmp_path: Path) -> None:
    command = server_command(backend_store_uri="postgresql://u:pw@127.0.0.1:5432/s",
                             artifacts_destination=str(tmp_path / "art"), host="0.0.0.0",
                             port=5001, workers=3, allowed_hosts="mlflow:5001",
                             base_env={"PATH": "/bin"})
    argv = list(command.argv)
    assert argv[1:4] == ["-m", "mlflow", "server"]
    assert argv[argv.index("--backend-store-uri") + 1] == "postgresql+psycopg://u:pw@127.0.0.1:5432/s"
    assert "--serve-artifacts" in argv
    assert argv[argv.index("--artifacts-destination") + 1] == str((tmp_path / "art").resolve())
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "5001"
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--allowed-hosts") + 1] == "mlflow:5001"
    assert command.env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert command.env["DO_NOT_TRACK"] == "true"
    assert command.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert command.env["PATH"] == "/bin"
    assert "pw" not in command.shown() and "u:***@" in command.shown()
    assert mask_password("postgresql://a:b@h/d") == "postgresql://a:***@h/d"
    assert mask_password("sqlite:////x/y.db") == "sqlite:////x/y.db"


def test_cli_dry_run_prints_the_command(capsys: pytest.CaptureFixture[str],
                                        data_home: Path) -> None:
    run = run_cli(capsys, "mlflow-server", "--port", "5123", "--dry-run", "--json")
    assert run.code == 0, run.err
    argv = run.json()["argv"]
    assert argv[argv.index("--backend-store-uri") + 1] == (
        f"sqlite:///{data_home.resolve()}/mlflow-server/mlflow.db")
    assert argv[argv.index("--artifacts-destination") + 1] == (
        str(data_home.resolve() / "mlflow-server" / "artifacts"))
    assert argv[argv.index("--port") + 1] == "5123"
    assert not (data_home / "mlflow-server").exists()  # a dry run creates nothing
    text = run_cli(capsys, "mlflow-server", "--dry-run", "--backend-store-uri",
                   "postgresql://ops:hunter2@db:5432/spamops")
    assert text.code == 0 and "hunter2" not in text.out
    assert "'postgresql+psycopg://ops:***@db:5432/spamops'" in text.out


def test_cli_refuses_a_backend_that_is_not_a_database(capsys: pytest.CaptureFixture[str],
                                                      data_home: Path) -> None:
    run = run_cli(capsys, "mlflow-server", "--backend-store-uri", "/srv/mlruns")
    assert run.code == 2
    assert run.err.count("\n") == 1 and "is not a database URL" in run.err
    assert not (data_home / "mlflow-server").exists()


def test_help_names_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "mlflow-server", "--help")
    assert run.code == 0
    for option in ("--host", "--port", "--backend-store-uri", "--artifacts-destination",
                   "--allowed-hosts", "--workers"):
        assert option in run.out


def test_unreachable_reason_reads_mlflows_wrapped_errors() -> None:
    refused = ("API request to http://127.0.0.1:1/api/2.0/mlflow/registered-models/get failed "
               "with exception HTTPConnectionPool(host='127.0.0.1', port=1): Max retries "
               "exceeded with url: /x (Caused by NewConnectionError(\"...: Failed to establish "
               "a new connection: [Errno 111] Connection refused\"))")
    assert unreachable_reason(refused) == "connection refused"
    assert unreachable_reason("API request to http://h/x failed with timeout exception "
                              "ReadTimeout") == "timed out"
    assert unreachable_reason("RESOURCE_DOES_NOT_EXIST: Registered Model not found") is None


def test_registry_on_a_closed_port_is_one_clear_error_in_seconds() -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    registry = Registry(uri, "sms-spam-classifier", "/nonexistent")
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable) as raised:
        registry.aliases()
    took = time.monotonic() - started
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"the MLflow tracking server {uri} is unreachable "
                              "(connection refused)")
    # Two quick retries, not MLflow's default seven with a backoff factor of 2 (minutes).
    assert took < 15, took
    # Never mistaken for "no champion" or "no such model".
    with pytest.raises(RegistryUnavailable):
        registry.champion_version()
    with pytest.raises(RegistryUnavailable):
        registry.versions()


def test_cli_commands_print_one_line_when_the_server_is_down(
        capsys: pytest.CaptureFixture[str], data_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("SPAMOPS_MLFLOW_TRACKING_URI", uri)
    assert run_cli(capsys, "setup-database").code == 0
    for args in (["models"], ["promote", "2"], ["rollback"]):
        run = run_cli(capsys, *args)
        assert run.code == 1, (args, run)
        assert run.err == (f"error: the MLflow tracking server {uri} is unreachable "
                           "(connection refused); start it (`spamops mlflow-server`) or fix "
                           "mlflow_tracking_uri\n"), (args, run.err)
        assert "Traceback" not in run.out + run.err


def test_the_schema_comes_from_the_uris_search_path() -> None:
    assert search_path_schema(mlflow_backend_for_store("postgresql://u@h/db")) == "mlflow"
    assert search_path_schema("postgresql+psycopg://u@h/db") is None
    assert search_path_schema("sqlite:////x.db") is None
    assert ensure_schema("sqlite:////x.db") is None  # nothing to create, nothing opened


def test_creating_the_schema_on_an_unreachable_database_is_one_line() -> None:
    uri = mlflow_backend_for_store(f"postgresql://ops:pw@127.0.0.1:{closed_port()}/spamops")
    with pytest.raises(StoreError) as raised:
        ensure_schema(uri)
    message = str(raised.value)
    assert "\n" not in message and "pw" not in message
    assert message.startswith("cannot create MLflow's schema 'mlflow' in "
                              "postgresql+psycopg://ops:***@127.0.0.1:")


def test_mlflow_ui_points_at_the_tracking_server_instead(
        capsys: pytest.CaptureFixture[str], data_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    run = run_cli(capsys, "mlflow-ui")
    assert run.code == 2
    assert run.err == ("error: the registry is on the MLflow tracking server "
                       "http://mlflow.example:5000, which serves its own UI: open that URL; "
                       "`spamops mlflow-ui` shows a data home's own sqlite registry\n")
