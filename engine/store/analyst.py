"""Analyst access: read-only SQL and Parquet export of the history, on either backend.

Owns ``spamops sql`` and ``spamops export``. On PostgreSQL the query runs in a READ ONLY
transaction with a statement timeout (``engine.store.postgres.PostgresBackend.analyst_query``)
and the export streams each table in bounded Arrow batches, sorted by day, and writes the same
Parquet layout with pyarrow, one day's file at a time. On DuckDB, analyst SQL is gated twice,
both times by DuckDB itself: its parser classifies every statement (and the statement an
``EXPLAIN`` wraps, since ``EXPLAIN ANALYZE`` executes it), and the query then runs on a
read-only connection with no spilling to disk, ``enable_external_access = false`` and
``lock_configuration = true``, so no statement can write the database, write a file, read one
other than the database's own, attach another database or turn those settings back on. (DuckDB
keeps its own file in the allowed paths: ``read_blob('<home>/spamops.duckdb')`` reads its raw
bytes, freed blocks with pruned texts included.) It must not write the history. On both
backends ``store.statement_timeout_seconds`` bounds an analyst query (DuckDB has no statement
timeout: a timer calls ``DuckDBPyConnection.interrupt()``).
"""

from __future__ import annotations

import itertools
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from engine.errors import QueryError, QueryTimeout, StoreError
from engine.records import QueryResult
from engine.store.codec import quote_path
from engine.store.connection import PROCESS_LOCK, StoreBase, one_line

if TYPE_CHECKING:
    import pyarrow as pa

ANALYST_CONFIG = {"temp_directory": "''", "enable_external_access": "false",
                  "lock_configuration": "true"}
"""DuckDB settings of the analyst's connection, in order: no spilling (DuckDB otherwise writes
a query too big for memory to ``<db>.tmp/`` in the data home, up to 90% of the free disk,
even on a read-only connection with external access off: a query past ``memory_limit`` fails
instead), no file system or network access beyond the database file (COPY TO, EXPORT,
ATTACH, read_csv, glob, INSTALL all fail), and no SET that could undo either. See
duckdb.org/docs/stable/operations_manual/securing_duckdb/overview."""

NULL_DAY = "__HIVE_DEFAULT_PARTITION__"
"""The partition folder DuckDB's ``PARTITION_BY`` names for rows whose day is NULL."""

EXPORT_BATCH_ROWS = 20_000
"""Rows read from PostgreSQL per Arrow batch by ``export_parquet`` (bounds its memory)."""

_EXPLAIN = re.compile(r"\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?", re.IGNORECASE)
"""The words in front of the statement an ``EXPLAIN`` wraps (DuckDB classifies the rest)."""

_PARTITION_COLUMNS = {
    "predictions": "ts", "feedback": "ts", "drift_snapshots": "ts", "decisions": "ts",
    "retraining_events": "started_at", "approvals": "created_at", "job_runs": "started_at",
    "model_versions": "registered_at", "audit_log": "ts", "alias_moves": "created_at",
    "outbox": "created_at", "accepted_baseline": "accepted_at",
    "evaluation_messages": "added_at", "spool_segments": "ingested_at",
    "schema_version": "applied_at",
}
"""The timestamp ``export_parquet`` partitions each table by. The tables exported are read
from the database's catalogue, not from here: a table added by a later migration and not
listed is partitioned by its first TIMESTAMP column (or written unpartitioned)."""


def _statement_kind(statement: duckdb.Statement) -> str:
    """DuckDB's type name of a statement; for ``EXPLAIN``, ``EXPLAIN <type of what it wraps>``
    unless that is a SELECT (then ``SELECT``)."""
    if statement.type != duckdb.StatementType.EXPLAIN:
        return str(statement.type.name)
    match = _EXPLAIN.match(statement.query)
    try:
        inner = duckdb.extract_statements(statement.query[match.end():]) if match else []
    except duckdb.Error:
        inner = []
    if len(inner) != 1:
        return "EXPLAIN"
    kind = _statement_kind(inner[0])
    return kind if kind == "SELECT" else f"EXPLAIN {kind}"


class AnalystMixin(StoreBase):
    """Read-only SQL and Parquet export."""

    # Analysts ------------------------------------------------------------------------------
    def sql(self, query: str, limit: int | None = None) -> QueryResult:
        """Run an analyst's read-only query on a read-only connection.

        Raises:
            QueryError: the query writes, is empty or is malformed (DuckDB's message).
            StoreError: there is no database yet.
            QueryTimeout: it ran longer than ``statement_timeout`` seconds and was stopped.
        """
        if self._pg is not None:
            try:
                columns, rows = self._pg.analyst_query(query, limit, self.statement_timeout)
            except QueryError as exc:
                if "does not exist" in str(exc) and self.schema_version() == 0:
                    raise StoreError(f"no history in {self.url} yet: run `spamops "
                                     "setup-database` first") from None
                raise
            return QueryResult(columns=columns, rows=rows)
        try:
            statements = duckdb.extract_statements(query)
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from None
        if not statements:
            raise QueryError("the query is empty")
        for statement in statements:
            kind = _statement_kind(statement)
            if kind != "SELECT":
                article = "an" if kind[:1] in "AEIOU" else "a"
                raise QueryError(f"only read-only queries are allowed (SELECT, WITH, DESCRIBE, "
                                 f"SHOW, SUMMARIZE, EXPLAIN of those); this is {article} {kind} "
                                 "statement")
        self._require_database()
        if self._held_connection() is not None:  # DuckDB refuses read-only beside read-write
            raise StoreError("an analyst query cannot run inside a store session")
        with PROCESS_LOCK:
            con = self._open(read_only=True)
            try:
                # Applied after the open, not as connect-time config: opening with that
                # config corrupted a concurrent writer's file in tests/e2e
                # (test_writers_and_readers...: checksum mismatches, short reads).
                for name, value in ANALYST_CONFIG.items():
                    con.execute(f"SET {name} = {value}")
                # DuckDB has no statement_timeout: interrupt() stops the running query from
                # another thread (duckdb.org/docs/stable/clients/python/reference).
                timer = threading.Timer(self.statement_timeout, con.interrupt)
                timer.daemon = True
                timer.start()
                try:
                    for statement in statements[:-1]:
                        con.execute(statement.query)
                    cursor = con.execute(statements[-1].query)
                    columns = [d[0] for d in cursor.description or ()]
                    rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
                finally:
                    timer.cancel()
            except duckdb.InterruptException:
                raise QueryTimeout(self.statement_timeout) from None
            except duckdb.Error as exc:
                raise QueryError(one_line(exc)) from None
            finally:
                self._close(con)
        return QueryResult(columns=columns, rows=[tuple(r) for r in rows])

    def export_parquet(self, directory: Path,
                       batch_rows: int = EXPORT_BATCH_ROWS) -> list[Path]:
        """Write each non-empty table of the history as Parquet partitioned by UTC day.

        Every table in the database's catalogue is exported (the outbox and the ledgers too),
        so a table added by a migration cannot be left out. Writes
        ``<directory>/<table>/day=YYYY-MM-DD/*.parquet`` (``<directory>/<table>/data.parquet``
        for a table without a timestamp), replacing an earlier export of the same table.
        On PostgreSQL the rows are streamed ``batch_rows`` at a time (DuckDB streams its own).

        Returns:
            The table directories written.
        """
        self._flush_if_pending()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self._pg is not None:
            return self._export_postgres(directory, batch_rows)
        written = []
        with self._connection(write=False) as con:
            assert isinstance(con, duckdb.DuckDBPyConnection)  # PostgreSQL returned above
            for table, column in history_tables(con).items():
                row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
                if not row or not row[0]:
                    continue
                target = directory / table
                _copy_out(con, table, column, target)
                written.append(target)
        return written

    def _export_postgres(self, directory: Path, batch_rows: int) -> list[Path]:
        """The same export from PostgreSQL, in bounded memory: each table is streamed from a
        server-side cursor in Arrow batches of ``batch_rows`` rows, in order of its partition
        column (``PgConnection.arrow_batches``; all tables in one REPEATABLE READ, READ ONLY
        transaction, so every table is of the same moment), and each run of rows of one UTC
        day is appended to that day's ``day=YYYY-MM-DD/data_0.parquet`` (the name DuckDB's
        ``COPY ... PARTITION_BY`` gives; the day is in the path, not in the file, as there).
        One file is open at a time, so memory holds one batch, whatever the history's size.
        (DuckDB's own partitioned ``COPY`` over the stream buffered every day it had not
        finished: it grew with the history.)"""
        from engine.store.postgres import PgConnection

        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
        written = []
        with self._connection(write=False) as con:
            assert isinstance(con, PgConnection)  # self._pg is set
            con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for table, column in _postgres_tables(con).items():
                schema, batches = con.arrow_batches(table, batch_rows, order_by=column)
                first = next(batches, None)
                if first is None:  # empty: not exported, as on DuckDB
                    continue
                target = directory / table
                shutil.rmtree(target, ignore_errors=True)
                _write_days(itertools.chain([first], batches), schema, column, target)
                written.append(target)
        return written


def _write_days(batches: Iterator[pa.RecordBatch], schema: pa.Schema, column: str | None,
                target: Path) -> None:
    """Write ``batches`` (sorted by ``column``) under ``target``: one
    ``day=YYYY-MM-DD/data_0.parquet`` per UTC day of ``column`` (``NULL_DAY`` for rows
    without one), or one ``data.parquet`` when ``column`` is None. Each file is written with
    ``pyarrow.parquet.ParquetWriter``, a row group per run of rows, and closed when the day
    changes."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    target.mkdir(parents=True)
    if column is None:
        with pq.ParquetWriter(target / "data.parquet", schema) as whole:
            for batch in batches:
                whole.write_batch(batch)
        return
    writer: pq.ParquetWriter | None = None
    current: object = ...
    try:
        for batch in batches:
            days = pc.cast(batch.column(column), pa.date32()).to_pylist()
            start = 0
            while start < len(days):
                day = days[start]
                end = start + 1
                while end < len(days) and days[end] == day:
                    end += 1
                if day != current or writer is None:
                    if writer is not None:
                        writer.close()
                    folder = target / f"day={NULL_DAY if day is None else day.isoformat()}"
                    folder.mkdir()
                    writer = pq.ParquetWriter(folder / "data_0.parquet", schema)
                    current = day
                writer.write_batch(batch.slice(start, end - start))
                start = end
    finally:
        if writer is not None:
            writer.close()


def history_tables(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """Every table of the database's ``main`` schema -> the timestamp column it is exported
    by (``_PARTITION_COLUMNS``, else its first TIMESTAMP column, else None), listed ones first."""
    names = [str(r[0]) for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT internal AND NOT temporary ORDER BY table_name"
    ).fetchall()]
    first_timestamp = dict(con.execute(
        "SELECT table_name, arg_min(column_name, column_index) FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main' "
        "AND data_type = 'TIMESTAMP' GROUP BY table_name").fetchall())
    return _by_partition(names, first_timestamp)


def _postgres_tables(con: Any) -> dict[str, str | None]:
    """``history_tables`` from PostgreSQL's catalogue (the current schema's base tables)."""
    names = [str(r[0]) for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]
    first_timestamp: dict[str, str] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE "
            "table_schema = current_schema() AND data_type LIKE 'timestamp%' "
            "ORDER BY table_name, ordinal_position").fetchall():
        first_timestamp.setdefault(str(table), str(column))
    return _by_partition(names, first_timestamp)


def _by_partition(names: list[str], first_timestamp: dict[str, str]) -> dict[str, str | None]:
    listed = [t for t in _PARTITION_COLUMNS if t in names]
    return {t: _PARTITION_COLUMNS.get(t) or first_timestamp.get(t)
            for t in [*listed, *(t for t in names if t not in _PARTITION_COLUMNS)]}


def _copy_out(con: duckdb.DuckDBPyConnection, source: str, column: str | None,
              target: Path) -> None:
    """Write ``source`` (a table or registered relation) under ``target``: partitioned by the
    UTC day of ``column``, or as one ``data.parquet`` when it has no timestamp."""
    if column is None:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        con.execute(f'COPY "{source}" TO {quote_path(target / "data.parquet")} '
                    "(FORMAT parquet)")
    else:
        con.execute(f'COPY (SELECT *, CAST("{column}" AS DATE) AS day FROM "{source}") '
                    f"TO {quote_path(target)} (FORMAT parquet, PARTITION_BY (day), OVERWRITE)")
