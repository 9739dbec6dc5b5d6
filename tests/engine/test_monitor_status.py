"""``spamops monitor --status [--json]``: which process (host, pid) holds the scheduler of
this history, on a DuckDB home (file lock) and on a PostgreSQL store (advisory lock)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from engine.clock import SystemClock
from engine.config import load_settings
from engine.scheduling import AdvisorySchedulerLock, SchedulerLock
from engine.store import Store
from tests.cli_helpers import run_cli
from tests.postgres import PostgresServer


def test_status_on_a_duckdb_home_names_the_file_lock_holder(
        data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    free = run_cli(capsys, "monitor", "--status")
    assert free.code == 0
    assert free.out.splitlines() == [
        "scheduler: no holder (file lock (this data home)); a monitor or console started now "
        "takes it"]
    lock = SchedulerLock.for_home(data_home)
    assert lock.acquire("console")
    try:
        held = run_cli(capsys, "monitor", "--status", "--json").json()
    finally:
        lock.release()
    assert held["lock"] == "file" and held["takeover_seconds"] == 30
    assert (held["holder"]["host"], held["holder"]["pid"], held["holder"]["kind"]) == (
        socket.gethostname(), os.getpid(), "console")


def test_status_on_a_postgresql_store_names_the_holder_and_the_takeover(
        data_home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    monkeypatch.setenv("SPAMOPS_MONITORING__TAKEOVER_SECONDS", "12")
    store = Store(data_home / "spamops.duckdb", data_home / "spool", clock=SystemClock(),
                  url=load_settings().store_url)
    store.migrate()
    lock = AdvisorySchedulerLock(store, data_home / "locks")
    try:
        assert lock.acquire("monitor")
        shown = run_cli(capsys, "monitor", "--status")
        as_json = run_cli(capsys, "monitor", "--status", "--json").json()
    finally:
        lock.release()
        store.close()
    assert shown.code == 0
    first, second = shown.out.splitlines()
    assert first.startswith(f"scheduler: held by monitor on {socket.gethostname()} "
                            f"(pid {os.getpid()}) since ")
    assert first.endswith(" UTC (postgresql advisory lock)")
    assert second == ("takeover: a standing-by host takes over within 12s of the holder's "
                      "death")
    assert as_json["lock"] == "postgresql" and as_json["takeover_seconds"] == 12
    assert as_json["holder"]["pid"] == os.getpid()


def test_status_and_check_now_do_not_go_together(
        data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused = run_cli(capsys, "monitor", "--status", "--check-now")
    assert refused.code == 2
    assert "--status and --check-now do not go together" in refused.err
    assert "Traceback" not in refused.err


@pytest.mark.slow  # stops and restarts the session's PostgreSQL server
def test_status_with_postgresql_away_says_unknown_not_no_holder(
        data_home: Path, postgres_url: str, postgres_server: PostgresServer,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """With the database away nobody can be shown as holder, and a monitor started now could
    not take the scheduler either: the status is unknown (one line, exit code 4), never
    "no holder ... a monitor started now takes it" with exit code 0, which a script would
    read as a missing scheduler and a hint that does not work."""
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    store = Store(data_home / "spamops.duckdb", data_home / "spool", clock=SystemClock(),
                  url=load_settings().store_url)
    store.migrate()
    store.close()
    postgres_server.stop()
    try:
        for args in (("monitor", "--status"), ("monitor", "--status", "--json")):
            away = run_cli(capsys, *args)
            assert away.code == 4, away
            assert "no holder" not in away.out and away.out.strip() == ""
            assert away.err.count("\n") == 1 and "cannot be reached" in away.err
    finally:
        postgres_server.start()
