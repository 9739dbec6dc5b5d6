"""The PostgreSQL backend of the store: a psycopg 3 connection pool and a thin connection
adapter, the only module of spamops that imports psycopg.

Owns turning ``store.url = "postgresql://..."`` into pooled connections, the translation of
the store's portable SQL (DuckDB's ``?`` placeholders) into psycopg's ``%s`` in one place,
loading a pandas frame or Arrow table into a temporary table (``COPY``: what DuckDB's
``register`` does for the same SQL), advisory transaction locks where DuckDB's single writer
made order implicit, and the read-only analyst session. Every other store module reaches
PostgreSQL only through ``PgConnection``, whose methods mirror the part of DuckDB's
connection API the store uses (``execute(...).fetchall()``, ``.df()``, ``executemany``,
``register``).

Connections are checked when taken from the pool (``ConnectionPool.check_connection``), so a
server restart costs one failed check, not a failed operation; a server that cannot be
reached raises ``StoreUnreachable`` after ``connect_timeout`` seconds.
Source: psycopg.org/psycopg3/docs (basic/params, api/pool, basic/copy).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool, PoolTimeout

from engine.errors import QueryError, QueryTimeout, StoreBusy, StoreError, StoreUnreachable

# The pool's own warnings ("error connecting in 'spamops-store'", "reconnection attempt ...
# failed") repeat what spamops raises as one StoreUnreachable line; unconfigured, Python's
# last-resort handler printed them on a command's stderr before spamops' error.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

CONNECT_TIMEOUT = 5
"""Seconds a new connection may take before the server counts as unreachable."""

POOL_WAIT = 5.0
"""Longest wait for a pooled connection (a server that went away is found within this)."""

PROBE_SECONDS = 1.0
"""While the server is away, how often an operation tries it again; the others fail at
once with ``StoreUnreachable``."""

_TOKENS = re.compile(r"('(?:[^']|'')*')|(\"(?:[^\"]|\"\")*\")|(\?)|(%)")
"""String literals, quoted identifiers, ``?`` placeholders and ``%`` signs."""

_ARROW_TYPES = (
    (pa.types.is_string, "TEXT"), (pa.types.is_large_string, "TEXT"),
    (pa.types.is_timestamp, "TIMESTAMP"), (pa.types.is_date, "DATE"),
    (pa.types.is_boolean, "BOOLEAN"), (pa.types.is_integer, "BIGINT"),
    (pa.types.is_floating, "DOUBLE PRECISION"), (pa.types.is_null, "TEXT"),
)


@functools.lru_cache(maxsize=512)
def translate(query: str) -> str:
    """The store's SQL with ``?`` placeholders as psycopg's ``%s`` (``%`` doubled), leaving
    string literals and quoted identifiers alone."""
    def swap(match: re.Match[str]) -> str:
        literal = match.group(1) or match.group(2)
        if literal:
            return literal.replace("%", "%%")
        return "%s" if match.group(3) else "%%"

    return _TOKENS.sub(swap, query)


def one_line(exc: BaseException) -> str:
    """PostgreSQL's message (primary text, then the detail) on one line."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    detail = getattr(diag, "message_detail", None) if diag is not None else None
    text = f"{primary} ({detail})" if primary and detail else (primary or str(exc))
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or \
        type(exc).__name__


def safe_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def lock_id(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` (crc32 in the low bits, a fixed
    spamops prefix in the high bits, so unrelated applications' keys do not collide)."""
    return (0x5350 << 32) | zlib.crc32(name.encode("utf-8"))


class PgResult:
    """The result of one statement, with the fetch methods the store uses on DuckDB's."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def description(self) -> list[tuple[str, int]] | None:
        if self._cursor.description is None:
            return None
        return [(column.name, column.type_code) for column in self._cursor.description]

    @property
    def rowcount(self) -> int:
        """Rows the statement inserted, updated or deleted (PostgreSQL's command tag)."""
        return int(self._cursor.rowcount)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone() if self._cursor.description is not None else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall() if self._cursor.description is not None else []

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return self._cursor.fetchmany(size) if self._cursor.description is not None else []

    def df(self) -> pd.DataFrame:
        """The rows as a DataFrame: timestamps as ``datetime64``, numerics as floats, typed
        columns even when there are no rows (as DuckDB's ``.df()`` gives)."""
        columns = [column.name for column in self._cursor.description or ()]
        types = [column.type_code for column in self._cursor.description or ()]
        frame = pd.DataFrame.from_records(self.fetchall(), columns=columns)
        for name, oid in zip(columns, types, strict=True):
            kind = _PANDAS_TYPES.get(oid)
            if kind == "datetime64[us]":
                frame[name] = pd.to_datetime(frame[name])
            elif kind is not None and (frame.empty or kind == "float64"):
                frame[name] = frame[name].astype(cast(Any, kind))
        return frame


_PANDAS_TYPES = {1114: "datetime64[us]", 1082: "datetime64[us]", 701: "float64",
                 700: "float64", 1700: "float64", 20: "int64", 21: "int64", 23: "int64",
                 16: "bool", 25: "object", 1043: "object"}
"""PostgreSQL type oids (timestamp, date, float8, float4, numeric, int8/2/4, bool, text,
varchar) to the pandas dtype of an empty result's column."""


class PgConnection:
    """One pooled connection inside one transaction, with DuckDB's connection methods."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.raw = connection

    def execute(self, query: str, params: Sequence[Any] | None = None) -> PgResult:
        cursor = self.raw.cursor()
        if params:
            cursor.execute(translate(query), list(params))
        else:
            cursor.execute(query)
        return PgResult(cursor)

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(translate(query), [list(r) for r in rows])

    def register(self, name: str, data: pd.DataFrame | pa.Table) -> None:
        """Load ``data`` into a temporary table ``name`` (dropped at commit), so the same
        ``INSERT ... SELECT FROM name`` runs here as on DuckDB's registered frames."""
        table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(
            data, preserve_index=False)
        columns = [(field.name, _pg_type(field.type)) for field in table.schema]
        self.raw.execute(pgsql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            pgsql.Identifier(name),
            pgsql.SQL(", ").join(pgsql.SQL("{} {}").format(pgsql.Identifier(c), pgsql.SQL(t))
                                 for c, t in columns)))
        self._copy_csv(name, [c for c, _ in columns], table)

    def copy_rows(self, table: str, columns: Sequence[str], batch: pa.RecordBatch) -> int:
        """``COPY table (columns) FROM STDIN`` the rows of ``batch``; returns how many."""
        self._copy_csv(table, columns, batch)
        return int(batch.num_rows)

    def _copy_csv(self, table: str, columns: Sequence[str],
                  data: pa.Table | pa.RecordBatch) -> None:
        """``COPY`` Arrow data as CSV written by Arrow itself (no Python per row): strings
        quoted, a NULL as an empty unquoted field, which is PostgreSQL's CSV reading."""
        buffer = io.BytesIO()
        pa_csv.write_csv(data, buffer, pa_csv.WriteOptions(include_header=False))
        copy_sql = pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            pgsql.Identifier(table), pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns))
        with self.raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.write(buffer.getbuffer())

    def arrow_batches(self, table: str, batch_rows: int, order_by: str | None = None
                      ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Stream ``table`` as Arrow record batches of at most ``batch_rows`` rows through a
        server-side cursor (``DECLARE ... CURSOR``, ``fetchmany``), so a table of millions of
        rows never sits in memory whole. Columns keep their order; timestamps become
        ``timestamp[us]``, dates ``date32``, integers ``int64``, floating and numeric
        ``float64``, booleans ``bool``, anything else (varchar, text, json) its text.
        ``order_by`` names a column to sort the rows by (on the server).
        The batches are read inside this connection's transaction: consume them before the
        block ends. Source: psycopg.org/psycopg3/docs/advanced/cursors.html#server-side-cursors.
        """
        columns = self.raw.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema "
            "= current_schema() AND table_name = %s ORDER BY ordinal_position", [table]
        ).fetchall()
        schema = pa.schema([(str(name), _EXPORT_TYPES.get(str(kind), pa.string()))
                            for name, kind in columns])
        select = pgsql.SQL("SELECT {} FROM {}").format(pgsql.SQL(", ").join(
            pgsql.SQL("{}::{}").format(pgsql.Identifier(str(name)), pgsql.SQL(
                "double precision" if str(kind) in ("real", "numeric") else
                "text" if str(kind) not in _EXPORT_TYPES else str(kind)))
            for name, kind in columns), pgsql.Identifier(table))
        if order_by is not None:
            select = pgsql.SQL("{} ORDER BY {}").format(select, pgsql.Identifier(order_by))

        def batches() -> Iterator[pa.RecordBatch]:
            with self.raw.cursor(name=f"spamops_export_{table}") as cursor:
                cursor.itersize = batch_rows
                cursor.execute(select)
                while rows := cursor.fetchmany(batch_rows):
                    yield pa.RecordBatch.from_arrays(
                        [pa.array(values, type=field.type)
                         for values, field in zip(zip(*rows, strict=True), schema, strict=True)],
                        schema=schema)

        return schema, batches()

    def unregister(self, name: str) -> None:
        self.raw.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(name)))

    def lock(self, name: str) -> None:
        """Hold the advisory lock ``name`` until this transaction ends (one holder at a time
        across every host: what DuckDB's single writer gives for free)."""
        self.raw.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id(name)])


_EXPORT_TYPES: dict[str, pa.DataType] = {
    "timestamp without time zone": pa.timestamp("us"), "date": pa.date32(),
    "double precision": pa.float64(), "real": pa.float64(), "numeric": pa.float64(),
    "bigint": pa.int64(), "integer": pa.int64(), "smallint": pa.int64(),
    "boolean": pa.bool_(),
}
"""``information_schema.columns.data_type`` -> the Arrow type ``arrow_batches`` gives it
(any other type is exported as its text)."""


def _pg_type(kind: pa.DataType) -> str:
    for test, name in _ARROW_TYPES:
        if test(kind):
            return name
    raise StoreError(f"cannot load a column of type {kind} into PostgreSQL")


class PostgresBackend:
    """A pool of connections to one PostgreSQL database.

    Args:
        url: a libpq URL (``postgresql://user@host:port/db``); a password is better kept in
            ``PGPASSWORD`` or ``~/.pgpass`` than in the URL.
        pool_size: the most connections this process holds.
        busy_timeout: how long an operation waits for a free pooled connection.
    """

    def __init__(self, url: str, *, pool_size: int = 4, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._pool_size = pool_size
        self._pool_pid = 0
        self._lock = threading.Lock()
        self.down_since: float | None = None
        """``time.monotonic()`` when the server was last found unreachable; ``None`` while
        it answers. Read by the health check without touching the network."""
        self.last_error = ""
        self._last_probe = 0.0

    def _get_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        with self._lock:
            if self._pool is not None and self._pool_pid != os.getpid():
                # Inherited through fork (API workers): its sockets and threads belong to the
                # parent; leave them alone and open this process's own.
                self._pool = None
            if self._pool is None:
                self._pool_pid = os.getpid()
                self._pool = ConnectionPool(
                    self.url, min_size=0, max_size=self._pool_size, open=True,
                    kwargs={"connect_timeout": CONNECT_TIMEOUT, "application_name": "spamops"},
                    check=ConnectionPool.check_connection,
                    timeout=min(self.busy_timeout, POOL_WAIT),
                    reconnect_timeout=0, name="spamops-store")
            return self._pool

    @contextlib.contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[PgConnection]:
        """One pooled connection in one transaction: committed when the block ends, rolled
        back on an error; PostgreSQL's errors become one-line ``StoreError``s."""
        if self.down_since is not None:
            self._probe()  # fails fast while the server stays away
        pool = self._get_pool()
        try:
            with pool.connection() as con:
                if read_only:
                    con.execute("SET TRANSACTION READ ONLY")
                yield PgConnection(con)
        except PoolTimeout:
            self._probe(force=True)  # away, or only every pooled connection busy?
            raise StoreBusy(f"all {self._pool_size} connections to {safe_url(self.url)} "
                            f"stayed busy for {min(self.busy_timeout, POOL_WAIT):g} s; raise "
                            "store.pool_size or try again") from None
        except psycopg.OperationalError as exc:
            if _is_connection_error(exc):
                self._went_away(one_line(exc))
                raise StoreUnreachable(self._unreachable(exc)) from None
            raise StoreError(f"store operation failed: {one_line(exc)}") from None
        except psycopg.Error as exc:
            raise StoreError(f"store operation failed: {one_line(exc)}") from None

    def _probe(self, *, force: bool = False) -> None:
        """Connect once, directly (not through the pool): clears ``down_since`` when the
        server answers, raises ``StoreUnreachable`` when it does not. Without ``force``,
        a failed probe less than ``PROBE_SECONDS`` ago is not repeated: the caller fails at
        once, so a host with its database away keeps answering without waiting."""
        now = time.monotonic()
        if not force and now - self._last_probe < PROBE_SECONDS:
            raise StoreUnreachable(self._unreachable())
        self._last_probe = now
        try:
            psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT).close()
        except psycopg.OperationalError as exc:
            self._went_away(one_line(exc))
            raise StoreUnreachable(self._unreachable(exc)) from None
        self.down_since = None
        self.last_error = ""

    def _went_away(self, error: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
        self.last_error = error
        self._last_probe = time.monotonic()

    def _unreachable(self, exc: BaseException | None = None) -> str:
        why = f": {one_line(exc)}" if exc is not None else ""
        return f"the store at {safe_url(self.url)} cannot be reached{why}"

    def analyst_query(self, query: str, limit: int | None,
                      timeout_seconds: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run an analyst's query on a connection of its own (not pooled), gated three times
        by PostgreSQL itself: the session is ``default_transaction_read_only`` and the
        transaction ``READ ONLY`` (any write or DDL is refused), the query is sent as one
        extended-protocol statement wrapped as ``SELECT * FROM (<query>)`` (so only a query
        fits, and no second statement such as ``COMMIT; BEGIN READ WRITE`` can follow), and
        ``statement_timeout`` bounds it.

        Raises:
            QueryError: PostgreSQL refused or failed the query (its message, one line).
            StoreUnreachable: the server cannot be reached.
        """
        body = query.strip().rstrip(";").strip()
        if not body:
            raise QueryError("the query is empty")
        first = _FIRST_WORD.match(body)
        kind = first.group(1).upper() if first else ""
        if kind in _COMMAND_WORDS:  # PostgreSQL's own answer would be a bare syntax error
            raise QueryError("only a read-only query is allowed on PostgreSQL (SELECT, WITH, "
                             "VALUES, TABLE); this is "
                             + (f"a {kind} statement" if kind else "not a query"))
        try:
            con = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT,
                                  application_name="spamops-sql")
        except psycopg.OperationalError as exc:
            raise StoreUnreachable(self._unreachable(exc)) from None
        try:
            con.read_only = True  # every transaction of this session starts READ ONLY
            con.execute("SELECT set_config('statement_timeout', %s, false), "
                        "set_config('default_transaction_read_only', 'on', false)",
                        [str(max(1, int(timeout_seconds * 1000)))])
            wrapped = ("SELECT * FROM (\n" + body.replace("%", "%%")
                       + "\n) AS analyst_query LIMIT %s")
            _refuse_volatile_calls(con, wrapped, limit)
            cursor = con.execute(wrapped, [limit])
            columns = [column.name for column in cursor.description or ()]
            return columns, [tuple(r) for r in cursor.fetchall()]
        except psycopg.errors.QueryCanceled:
            raise QueryTimeout(timeout_seconds) from None
        except psycopg.Error as exc:
            raise QueryError(one_line(exc)) from None
        finally:
            with contextlib.suppress(psycopg.Error):
                con.rollback()
            con.close()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z]+|\()", re.DOTALL)
"""The first word of a query, past blanks and comments (``(`` for a parenthesised one)."""
_COMMAND_WORDS = frozenset({
    "ALTER", "ANALYZE", "ATTACH", "BEGIN", "CALL", "CHECKPOINT", "CLUSTER", "COMMENT",
    "COMMIT", "COPY", "CREATE", "DEALLOCATE", "DELETE", "DESCRIBE", "DETACH", "DISCARD", "DO",
    "DROP", "EXECUTE", "EXPLAIN", "EXPORT", "GRANT", "IMPORT", "INSERT", "INSTALL", "LISTEN",
    "LOAD", "LOCK", "MERGE", "NOTIFY", "PRAGMA", "PREPARE", "REFRESH", "REINDEX", "RESET",
    "REVOKE", "ROLLBACK", "SET", "SHOW", "SUMMARIZE", "TRUNCATE", "UPDATE", "VACUUM"
})
"""Statements that are not queries (PostgreSQL's and DuckDB's): inside the ``SELECT * FROM
(...)`` wrapper they would only fail as a syntax error that does not say why, so they are
named instead. Anything else (a typo such as ``SELEC``) gets PostgreSQL's own message."""

_CALLS = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*)\(")
"""A function call in PostgreSQL's deparsed plan (``pg_terminate_backend(pid)``)."""


def _refuse_volatile_calls(con: psycopg.Connection[Any], wrapped: str,
                           limit: int | None) -> None:
    """Refuse an analyst query that calls a VOLATILE function, before it runs.

    A READ ONLY transaction refuses writes to tables, not actions: ``pg_terminate_backend``
    (which ends the scheduler's lock session, the API's connections, the tracking server's),
    ``pg_cancel_backend``, ``pg_advisory_lock``, ``pg_notify``, ``set_config``, ``lo_export``,
    ``dblink`` all run in one. PostgreSQL classifies every function: VOLATILE is its word for
    "may have side effects" (postgresql.org/docs/15/xfunc-volatility.html), so the query's
    plan (``EXPLAIN VERBOSE``, which plans without executing and never folds a volatile call)
    is read for calls, and any that names a volatile function in ``pg_proc`` is refused.
    This also refuses ``random()`` and ``clock_timestamp()``; an analyst who needs them
    exports the history (``spamops export``) and queries the Parquet files.

    Raises:
        QueryError: naming the volatile functions called.
    """
    plan = "\n".join(str(row[0]) for row in con.execute("EXPLAIN (VERBOSE) " + wrapped,
                                                       [limit]).fetchall())
    called = sorted({name.lower() for name in _CALLS.findall(plan)})
    if not called:
        return
    volatile = [str(r[0]) for r in con.execute(
        "SELECT DISTINCT proname FROM pg_proc WHERE provolatile = 'v' AND proname = ANY(%s) "
        "ORDER BY 1", [called]).fetchall()]
    if volatile:
        raise QueryError("only read-only queries are allowed: this one calls "
                         f"{', '.join(volatile)}, which PostgreSQL marks VOLATILE (may act "
                         "beyond reading, e.g. end other sessions); export the history "
                         "(spamops export) to use such functions")


def _is_connection_error(exc: psycopg.OperationalError) -> bool:
    """A lost or refused connection (class 08, admin shutdown 57P01..03), not a query error."""
    state = getattr(exc, "sqlstate", None) or ""
    return not state or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _keepalive_params(dead_peer_seconds: float | None) -> dict[str, Any]:
    """Connection parameters that drop a lock's session within about ``dead_peer_seconds``
    once its peer is gone without closing it (a host that lost power or network).

    Both ends probe: the server's ``tcp_keepalives_*`` (set for this session through
    ``options``) end the session of a silent client, which releases its advisory lock; the
    client's libpq ``keepalives*`` and ``tcp_user_timeout`` make the holder's next check fail
    instead of hanging on a half-open socket. Idle time is a third of the budget, then three
    probes spaced a tenth of it apart (idle + 3 x interval, well under the budget).
    Source: postgresql.org/docs/15/runtime-config-connection.html (tcp_keepalives_idle,
    tcp_user_timeout) and libpq-connect.html (keepalives_idle, keepalives_count).
    """
    if dead_peer_seconds is None:
        return {}
    idle = max(1, int(dead_peer_seconds / 3))
    interval = max(1, int(dead_peer_seconds / 10))
    user_timeout_ms = int(dead_peer_seconds * 1000 / 2)
    return {
        "keepalives": 1, "keepalives_idle": idle, "keepalives_interval": interval,
        "keepalives_count": 3, "tcp_user_timeout": user_timeout_ms,
        "options": (f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={interval} "
                    f"-c tcp_keepalives_count=3 -c tcp_user_timeout={user_timeout_ms}"),
    }


class AdvisoryLock:
    """A session-level advisory lock on a connection of its own (not pooled): held while this
    object's connection lives, released by ``release()``, by ``close()``, or by PostgreSQL
    itself when the process dies or its connection drops — which is what makes it a
    single-holder lock across hosts. Who holds it is visible to every host through the
    holder's ``application_name`` (``holder()``).

    Source: postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS.

    Args:
        url: the store's PostgreSQL URL.
        name: the lock's name (``lock_id`` turns it into the 64-bit key).
        holder: who this process is, e.g. ``"host-a pid=4242"`` (at most 63 bytes shown).
    """

    def __init__(self, url: str, name: str, holder: str, *,
                 dead_peer_seconds: float | None = None) -> None:
        self.url = url
        self.name = name
        self.key = lock_id(name)
        self.label = f"spamops-lock {holder}"[:63]
        self._con: psycopg.Connection[Any] | None = None
        self._keepalive = _keepalive_params(dead_peer_seconds)

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits. True when this process holds it
        (also when it already did). Raises ``StoreUnreachable`` when the server is away."""
        if self.held():
            return True
        self.close()
        try:
            con = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                                  application_name=self.label, **self._keepalive)
        except psycopg.OperationalError as exc:
            raise StoreUnreachable(f"the store at {safe_url(self.url)} cannot be reached: "
                                   f"{one_line(exc)}") from None
        try:
            row = con.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
        except psycopg.Error as exc:
            con.close()
            raise StoreUnreachable(f"advisory lock {self.name!r}: {one_line(exc)}") from None
        if row and row[0]:
            self._con = con
            return True
        con.close()
        return False

    def held(self) -> bool:
        """Whether this process still holds the lock: its session answers and ``pg_locks``
        still shows the lock granted to that session's backend pid (one round trip on the
        lock's own connection, a lookup in the server's shared lock table). False once the
        server restarted or the connection dropped (the session, and its lock, are gone).
        Source: postgresql.org/docs/15/view-pg-locks.html (advisory locks: ``classid`` holds
        the key's high 32 bits, ``objid`` the low, ``objsubid`` 1 for a bigint key)."""
        if self._con is None or self._con.closed:
            return False
        try:
            row = self._con.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND "
                "granted AND pid = pg_backend_pid() AND objsubid = 1 AND "
                "((classid::bigint << 32) | objid::bigint) = %s)", [self.key]).fetchone()
        except psycopg.Error:
            self.close()
            return False
        return bool(row and row[0])

    def holder(self) -> str | None:
        """The ``holder`` text of whoever holds the lock now (any host), or ``None``."""
        session = self.holder_session()
        return session[0] if session is not None else None

    def holder_session(self) -> tuple[str, datetime] | None:
        """The ``holder`` text of whoever holds the lock in this database now (any host) and
        when its session started (naive UTC: it connects just before taking the lock), or
        ``None`` when nobody holds it. Raises ``StoreUnreachable`` when the server is away."""
        try:
            with psycopg.connect(self.url, autocommit=True,
                                 connect_timeout=CONNECT_TIMEOUT) as con:
                row = con.execute(
                    "SELECT a.application_name, a.backend_start AT TIME ZONE 'UTC' "
                    "FROM pg_locks AS l JOIN pg_stat_activity AS a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND "
                    "l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) AND "
                    "((l.classid::bigint << 32) | l.objid::bigint) = %s",
                    [self.key]).fetchone()
        except psycopg.OperationalError as exc:
            raise StoreUnreachable(f"the store at {safe_url(self.url)} cannot be reached: "
                                   f"{one_line(exc)}") from None
        if not row:
            return None
        return str(row[0]).removeprefix("spamops-lock "), row[1]

    def release(self) -> None:
        """Give the lock up (closing its connection)."""
        self.close()

    def close(self) -> None:
        if self._con is not None:
            with contextlib.suppress(psycopg.Error):
                self._con.close()
            self._con = None
