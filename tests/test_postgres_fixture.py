"""The test PostgreSQL server itself (tests/postgres.py): a real server on loopback, a fresh
database per test, and a stop/start that keeps the data (the multi-host test relies on it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.postgres import PostgresServer


def test_each_test_gets_a_fresh_empty_database(postgres_url: str,
                                               postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_url) as con:
        tables = con.execute("SELECT count(*) FROM information_schema.tables "
                             "WHERE table_schema = 'public'").fetchone()
        assert tables == (0,)
        host = con.execute("SELECT inet_server_addr()::text, current_setting('port')").fetchone()
    assert host == ("127.0.0.1/32", str(postgres_server.port))
    other = postgres_server.database()
    assert other != postgres_url
    postgres_server.drop(other)


def test_stop_refuses_connections_and_start_brings_the_data_back(
        postgres_url: str, postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_url) as con:
        con.execute("CREATE TABLE kept (id int)")
        con.execute("INSERT INTO kept VALUES (7)")
    postgres_server.stop()
    try:
        assert not postgres_server.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres_url, connect_timeout=2)
    finally:
        postgres_server.start()
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT id FROM kept").fetchall() == [(7,)]


def test_missing_binaries_fail_with_the_package_name(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    import tests.postgres as pg

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg, "_BIN_GLOB", str(tmp_path / "lib" / "*" / "bin"))
    with pytest.raises(pg.PostgresUnavailable, match="install the Debian package postgresql"):
        pg.find_bindir()


def test_a_killed_test_run_leaves_no_server_behind(tmp_path: Path) -> None:
    """The watchdog stops the server of a process that died without stopping it."""
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
              "from tests.postgres import PostgresServer\n"
              "s = PostgresServer(); s.start(); print(s.root, flush=True)\n"
              "import time; time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    root = Path(child.stdout.readline().strip())
    assert (root / "data" / "postmaster.pid").exists()
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 20
    while root.exists():
        assert time.monotonic() < deadline, f"{root} is still there"
        time.sleep(0.2)
