"""Connections to the history: the DuckDB file (open with back-off, one at a time per
process) or the PostgreSQL pool (``engine.store.postgres``), behind one interface.

Owns how a DuckDB connection is opened (read-only or read-write, retried with jittered
exponential back-off while another process holds the file), the per-process lock that keeps
connections short and never mixed, transactions on either backend, the portable upsert, and
the small read helpers every other concern of the store builds on (``StoreBase``). Mixins get
a connection with DuckDB's methods (``execute(...).fetchall()``, ``.df()``, ``register``) on
both backends and write portable SQL (``?`` placeholders, ``ON CONFLICT``); where the
backends must differ they test ``self.dialect``. It must not know any table but through the
SQL its callers pass in (and the primary keys the upsert needs).
"""

from __future__ import annotations

import abc
import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import duckdb
import pandas as pd

from engine.clock import Clock
from engine.errors import StoreBusy, StoreError
from engine.store import sidecar

if TYPE_CHECKING:
    from engine.notify.events import NotifyEvent
    from engine.store.postgres import PgConnection, PostgresBackend

Connection: TypeAlias = "duckdb.DuckDBPyConnection | PgConnection"
"""What a store operation works on: a DuckDB connection, or the PostgreSQL adapter with the
same methods."""

Dialect = Literal["duckdb", "postgresql"]

PRIMARY_KEYS = {
    "drift_snapshots": "id", "decisions": "id", "retraining_events": "id", "approvals": "id",
    "job_runs": "id", "model_versions": "version", "accepted_baseline": "id",
    "alias_moves": "id", "evaluation_messages": "text", "outbox": "id",
}
"""The conflict target of ``upsert_sql`` per table (the key of migrations 001-011)."""

_MAX_BACKOFF = 0.1
"""Longest single wait between two open attempts: short, so a freed file is taken quickly."""

PROCESS_LOCK = threading.RLock()
"""One connection at a time per process: DuckDB refuses a read-only and a read-write
connection to the same file within one process, and this also keeps every connection short."""

R = TypeVar("R")


# Errors ------------------------------------------------------------------------------------
def one_line(exc: BaseException) -> str:
    """DuckDB's message without the ``LINE 1: ...`` excerpt and caret, on one line."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [line for line in lines if line and not line.startswith("LINE ")
            and set(line) != {"^"}]
    return " ".join(kept) or type(exc).__name__


def is_lock_conflict(exc: duckdb.Error) -> bool:
    message = str(exc)
    return ("Could not set lock" in message or "Conflicting lock" in message
            or "different configuration" in message)


def upsert_sql(table: str, columns: Sequence[str]) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of every other column: DuckDB's ``INSERT OR
    REPLACE``, in SQL that PostgreSQL runs too."""
    key = PRIMARY_KEYS[table]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            f"({', '.join('?' for _ in columns)}) ON CONFLICT ({key}) {action}")


def holder_of(exc: BaseException) -> str:
    match = re.search(r"\(PID (\d+)\)", str(exc))
    return f" (held by PID {match.group(1)})" if match else ""




class StoreBase(abc.ABC):
    """What every part of the store shares: where the file is, the clock, and connections.

    ``Store`` (``engine.store.history``) is composed of this base and one mixin per concern;
    each mixin reaches the database only through the methods below.
    """

    db_path: Path
    spool_dir: Path
    key_path: Path
    """The data home key (``engine.datakey``): outside the database file, mode 0600."""
    clock: Clock
    read_only: bool
    busy_timeout: float
    dialect: Dialect = "duckdb"
    statement_timeout: float = 30.0
    """PostgreSQL only: seconds an analyst query may run."""
    _pg: PostgresBackend | None = None
    """The PostgreSQL pool when ``dialect`` is postgresql (``engine.store.postgres``)."""
    _sidecars: dict[int, tuple[duckdb.DuckDBPyConnection, Path]]
    """Open connections of ``_open`` (by ``id``) and the file whose sidecar each holds."""
    connections_opened: int = 0
    """DuckDB connections this store has opened since it was built (``/metrics`` exports
    it; the PostgreSQL pool keeps its own)."""
    _session: duckdb.DuckDBPyConnection | None = None
    """The read-only connection of a ``reading()`` block (only its thread, holding
    ``PROCESS_LOCK``, can see it set)."""

    @property
    def url(self) -> str:
        """Where the history lives, password hidden (``duckdb:///...`` or ``postgresql://``)."""
        if self._pg is not None:
            from engine.store.postgres import safe_url

            return safe_url(self._pg.url)
        return f"duckdb:///{self.db_path}"

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version of the history (``engine.store.schema``)."""

    @abc.abstractmethod
    def ensure_audit_key(self) -> Any:
        """Create the data home key at setup (``engine.store.audit_log``)."""

    @abc.abstractmethod
    def recover_spool(self) -> int:
        """Ingest segments left by dead processes (``engine.store.spool``)."""

    @abc.abstractmethod
    def _flush_if_pending(self) -> None:
        """Ingest this process's spool before a read that must see its own writes."""

    def _session_guard(self) -> contextlib.AbstractContextManager[Any]:
        """A lock ``session()`` takes before ``PROCESS_LOCK``: one that store calls made inside
        the session take before it too (the spool's flush lock), so no thread can hold it while
        waiting for the session's ``PROCESS_LOCK``."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def _enqueue(self, con: Connection, events: Sequence[NotifyEvent]) -> int:
        """Write the outbox rows of ``events`` in the caller's transaction
        (``engine.store.outbox``); returns how many."""

    @abc.abstractmethod
    def _outbox_committed(self, rows: int) -> None:
        """Tell this process's outbox sender that ``rows`` new deliveries are committed."""

    # Connections ---------------------------------------------------------------------------
    def _require_database(self) -> None:
        if self._pg is None and not self.db_path.exists():
            raise StoreError(f"no database at {self.db_path}: run `spamops setup-database` "
                             "first")

    def _open(self, read_only: bool, config: dict[str, Any] | None = None,
              path: Path | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to the history (or to ``path``), holding the file's sidecar
        ``flock`` (``engine.store.sidecar``) until ``_close``; retried with jittered
        exponential back-off while another process holds either lock. Close it with
        ``_close``, never ``close()`` alone."""
        target = path or self.db_path
        opened_as = str(target)
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.002
        while True:
            conflict = ""
            try:
                locked = sidecar.acquire(target, opened_as, shared=read_only)
            except sidecar.SidecarRefused as exc:
                raise StoreError(f"cannot open {self.db_path}: {exc}") from None
            except OSError as exc:
                raise StoreError(f"cannot open {self.db_path}: its lock file "
                                 f"{sidecar.sidecar_path(target)}: "
                                 f"{exc.strerror or exc}") from None
            if locked:
                try:
                    con = duckdb.connect(opened_as, read_only=read_only, config=config or {})
                except duckdb.Error as exc:
                    sidecar.release(target)
                    if not is_lock_conflict(exc):
                        raise StoreError(
                            f"cannot open {self.db_path}: {one_line(exc)}") from None
                    conflict = holder_of(exc)
                except BaseException:
                    sidecar.release(target)
                    raise
                else:
                    self.connections_opened += 1
                    self._sidecars[id(con)] = (con, target)
                    return con
            else:
                pid = sidecar.holder(target)
                conflict = f" (held by PID {pid})" if pid else ""
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreBusy(
                    f"the database {self.db_path} stayed locked by another process"
                    f"{conflict} for {self.busy_timeout:g} s; try again, or stop "
                    "the process that holds it") from None
            time.sleep(min(delay * random.uniform(0.5, 1.5), remaining))
            delay = min(delay * 2, _MAX_BACKOFF)

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        """Close a connection of ``_open``, then let go of its sidecar lock (in that order:
        DuckDB checkpoints on close, and no other process may open the file before that)."""
        _, target = self._sidecars.pop(id(con), (con, None))
        try:
            con.close()
        finally:
            if target is not None:
                sidecar.release(target)

    _held: tuple[int, duckdb.DuckDBPyConnection] | None = None
    """The session's connection and the thread that holds it (``session``)."""
    _held_in_transaction: bool = False

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Keep one read-write connection open for a burst of store calls from this thread.

        Opening the file costs ~20 ms of CPU (DuckDB reads its catalog); a monitoring check
        makes about fifteen store calls, each on its own connection. Inside a session they
        all use the held one; each transaction still commits on its own, so what is written
        and when it is visible is unchanged. While it is held, other threads of this process
        wait for ``PROCESS_LOCK`` and other processes for the file (``busy_timeout``): keep a
        session to one burst of work (a replay chunk, one check, one job), and suspend it
        around long work (``suspend_session``: a retrain does). Re-entrant; a no-op on a
        read-only store and on PostgreSQL (whose pool keeps its connections open).
        """
        if self.read_only or self._pg is not None or self._held_connection() is not None:
            yield
            return
        self._require_database()
        with self._session_guard(), PROCESS_LOCK:
            self._held = (threading.get_ident(), self._open(read_only=False))
            try:
                yield
            finally:
                held, self._held = self._held, None
                self._held_in_transaction = False
                if held is not None:
                    self._close(held[1])

    @contextlib.contextmanager
    def suspend_session(self) -> Iterator[None]:
        """Close this thread's session connection and let go of the process lock for long
        work (a retrain: minutes that other processes and threads must not wait for the
        file); the session's connection is opened again after. Store calls inside open their
        own, as outside a session. A no-op without a session or inside a transaction.
        """
        held = self._held
        if (held is None or held[0] != threading.get_ident()
                or self._held_in_transaction):
            yield
            return
        self._held = None
        self._close(held[1])
        guard = self._session_guard()
        PROCESS_LOCK.release()  # taken by session() on this thread, with the guard first
        guard.__exit__(None, None, None)
        try:
            yield
        finally:
            guard.__enter__()
            PROCESS_LOCK.acquire()
            self._held = (held[0], self._open(read_only=False))

    def _held_connection(self) -> duckdb.DuckDBPyConnection | None:
        held = self._held
        return held[1] if held is not None and held[0] == threading.get_ident() else None

    @contextlib.contextmanager
    def _connection(self, *, write: bool, create: bool = False) -> Iterator[Connection]:
        """A short-lived connection (the session's, when this thread holds one); DuckDB errors
        inside become one-line ``StoreError``. On PostgreSQL a pooled connection in one
        transaction (committed at the end)."""
        if write and self.read_only:
            raise StoreError("this store was opened read-only")
        if self._pg is not None:
            with self._pg.connection() as pg:
                yield pg
            return
        held = self._held_connection()
        if held is not None:
            try:
                yield held
            except duckdb.Error as exc:
                raise StoreError(f"store operation failed: {one_line(exc)}") from None
            return
        if not create:
            self._require_database()
        with PROCESS_LOCK:
            if self._session is not None:  # inside this thread's reading() block
                if write:
                    raise StoreError("a write inside a read-only reading() block")
                try:
                    yield self._session
                except duckdb.Error as exc:
                    raise StoreError(f"store operation failed: {one_line(exc)}") from None
                return
            con = self._open(read_only=not write)
            try:
                yield con
            except duckdb.Error as exc:
                raise StoreError(f"store operation failed: {one_line(exc)}") from None
            finally:
                self._close(con)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Serve every read of this thread inside the block from one read-only connection.

        For callers that read several tables at once (a ``/metrics`` scrape reads four): one
        open instead of one per read, and one consistent view. Other threads wait for the
        block as for any connection (``PROCESS_LOCK``); a write inside it is refused, since
        DuckDB cannot mix read-only and read-write connections in one process. Nested blocks
        share the outer one's connection.

        Raises:
            StoreError: no database yet; StoreBusy: another process held it too long.
        """
        self._require_database()
        if self._pg is not None:  # PostgreSQL: pooled connections, nothing to share
            yield
            return
        with PROCESS_LOCK:
            if self._session is not None:
                yield
                return
            self._session = self._open(read_only=True)
            try:
                yield
            finally:
                session, self._session = self._session, None
                self._close(session)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        if self._pg is not None:  # the pooled connection is one transaction already
            with self._connection(write=True) as pg:
                yield pg
            return
        with self._connection(write=True) as con:
            if self._held_in_transaction and con is self._held_connection():
                yield con  # nested in a transaction on the session's connection: joins it
                return
            on_session = con is self._held_connection()
            con.execute("BEGIN TRANSACTION")
            self._held_in_transaction = on_session
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                self._held_in_transaction = False
            con.execute("COMMIT")

    def _records(self, sql: str, params: Sequence[Any],
                 decode: Callable[[dict[str, Any]], R]) -> list[R]:
        with self._connection(write=False) as con:
            cursor = con.execute(sql, list(params))
            columns = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchall()
        return [decode(dict(zip(columns, row, strict=True))) for row in rows]

    def _upsert(self, table: str, row: dict[str, Any],
                events: Sequence[NotifyEvent] = ()) -> None:
        """Insert or replace ``row``; the outbox rows of ``events`` commit with it."""
        with self._transaction() as con:
            con.execute(upsert_sql(table, list(row)), list(row.values()))
            queued = self._enqueue(con, events) if events else 0
        self._outbox_committed(queued)

    def _serialise(self, con: Connection, name: str) -> None:
        """Make ``name`` a critical section across every process and host until ``con``'s
        transaction ends: a PostgreSQL advisory transaction lock; nothing on DuckDB, whose
        single writer per file already is one."""
        if self._pg is not None:
            con.lock(name)  # type: ignore[union-attr]

    def query_frame(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Engine-internal read helper (aggregations): the result as a DataFrame."""
        with self._connection(write=False) as con:
            return con.execute(sql, list(params or [])).df()

    @staticmethod
    def window_clause(column: str, since: datetime | None, until: datetime | None, *,
                      by_day: bool = False) -> tuple[str, list[Any]]:
        """A ``WHERE`` clause: ``since <= column < until``; ``by_day`` compares whole days,
        ``day(since) <= column <= day(until)`` (for the daily aggregates)."""
        bound, upper = ("CAST(? AS DATE)", "<=") if by_day else ("?", "<")
        clauses, params = [], []
        if since is not None:
            clauses.append(f"{column} >= {bound}")
            params.append(since)
        if until is not None:
            clauses.append(f"{column} {upper} {bound}")
            params.append(until)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
