"""A real PostgreSQL server for the tests: one per test session, on a temporary directory and
a free loopback port, with a fresh empty database per test.

The server is the machine's own PostgreSQL (Debian package ``postgresql``: ``initdb`` and
``pg_ctl`` under ``/usr/lib/postgresql/<version>/bin``). ``initdb`` refuses to run as root, so
as root both run as the ``postgres`` user through ``runuser``; otherwise they run directly.
The cluster is made for tests: trust authentication on loopback only, no fsync.

``PostgresServer.stop()`` / ``start()`` stop and restart the same cluster on the same port
(the multi-host test takes the database away for a while), ``paused()`` makes it hang for a
block (the console outage test); ``database()`` creates an empty
database and returns its URL. Missing binaries are an error naming the package, never a skip:
``.ci/run`` installs the package where it is missing.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SUPERUSER = "spamops"
_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server would not start."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: PATH first, then the newest
    ``/usr/lib/postgresql/<version>/bin``. Raises PostgresUnavailable when neither has them."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = [Path(d) for d in glob.glob(_BIN_GLOB)
                  if (Path(d) / "pg_ctl").exists() and (Path(d) / "initdb").exists()]
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found (initdb, pg_ctl on PATH or in "
            f"{_BIN_GLOB}): install the Debian package postgresql (.ci/run does)")
    return max(candidates, key=lambda d: _version_key(d.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster on a temporary directory, listening on 127.0.0.1:``port``.

    ``start()`` runs initdb on first use; ``stop()`` shuts the server down (fast mode) and
    keeps the cluster, so ``start()`` brings the same databases back on the same port.
    ``remove()`` stops it and deletes the directory.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.bindir = find_bindir()
        # A short path in /tmp: the Unix socket lives there too (108-byte limit), and the
        # postgres user must be able to reach it (pytest's own tmp dirs are root-only).
        self.root = Path(root or tempfile.mkdtemp(prefix="spamops-pg-"))
        self.datadir = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)
        self._watchdog: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=self.root)

    def _init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        done = self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", SUPERUSER,
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {done.stderr.strip() or done.stdout}")

    def start(self) -> None:
        """Start the server (initialising the cluster the first time) and wait until it
        accepts connections. A port taken in the meantime gets one retry on another port."""
        if not self.datadir.exists():
            self._init()
        if self._watchdog is None:
            self._watch()
        for attempt in range(2):
            options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                       "-c max_connections=300")
            done = self._run("pg_ctl", "-D", str(self.datadir), "-o", options,
                             "-l", str(self.log), "-w", "-t", "60", "start")
            if done.returncode == 0:
                return
            if attempt == 0 and "could not bind" in self.log_text():
                self.port = free_port()
                continue
            raise PostgresUnavailable(
                f"pg_ctl start failed: {done.stderr.strip()}\n{self.log_text()[-2000:]}")

    def _watch(self) -> None:
        """Stop the server and delete its directory if this process dies without doing it (a
        test run killed by a timeout or Ctrl-C twice): a shell in its own session polls our
        pid once a second."""
        stop = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"]
        if self._as_postgres:
            stop = ["runuser", "-u", "postgres", "--", *stop]
        script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                  f"{shlex.join(stop)} >/dev/null 2>&1; rm -rf {shlex.quote(str(self.root))}")
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script], start_new_session=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast shutdown: open sessions are cut, data stays; ``immediate``:
        as if it crashed, recovered at the next start)."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The server hangs for the block: its postmaster is stopped (SIGSTOP), so a new
        connection is accepted by the kernel and then waits for an answer (the client's
        ``connect_timeout``), while open sessions still run; SIGCONT at the end."""
        pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.datadir), "status").returncode == 0

    def remove(self) -> None:
        """Stop the server if it runs and delete its directory."""
        if self.datadir.exists() and self.is_running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    # -- databases ---------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """The connection URL of database ``dbname`` (user spamops, no password: trust)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def database(self, prefix: str = "test") -> str:
        """Create a new empty database and return its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop the database of ``url``, closing whatever sessions still use it."""
        name = url.rsplit("/", 1)[1]
        with contextlib.suppress(Exception):
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def admin(self, statement: str) -> None:
        """Run one statement outside a transaction on the maintenance database."""
        import psycopg  # deferred: the tests that never touch PostgreSQL do not pay for it

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as con:
            con.execute(statement)  # type: ignore[arg-type]

    def wait_ready(self, timeout: float = 30) -> None:
        """Block until a connection succeeds (after ``start()`` from another thread)."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def migrate_to_postgres(home: Path, url: str) -> None:
    """Move the DuckDB history of data home ``home`` into the empty database ``url``, as
    ``spamops store migrate --to URL`` does (for tests of a home that runs on PostgreSQL)."""
    from engine.clock import SystemClock
    from engine.store import Store
    from engine.store.transfer import migrate_home

    source = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(), recover=False)
    target = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(), url=url,
                   recover=False)
    try:
        report = migrate_home(source, target)
    finally:
        source.close()
        target.close()
    if not report.audit.ok:
        raise AssertionError(report.audit.message)
