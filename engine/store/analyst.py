"""Analyst access: read-only SQL and Parquet export of the history.

Owns ``spamops sql`` (statements classified by DuckDB, run on a read-only connection) and
``spamops export``. It must not write the history.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from engine.errors import QueryError
from engine.records import QueryResult
from engine.store.codec import quote_path
from engine.store.connection import PROCESS_LOCK, StoreBase, one_line

_READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
"""Statement types ``sql`` accepts (SELECT covers WITH, FROM-first, DESCRIBE, SHOW, SUMMARIZE)."""

_EXPORT_TABLES = {
    "predictions": "ts", "feedback": "ts", "drift_snapshots": "ts", "decisions": "ts",
    "retraining_events": "started_at", "approvals": "created_at", "job_runs": "started_at",
    "model_versions": "registered_at", "audit_log": "ts",
}
"""History tables written by ``export_parquet`` and the timestamp each is partitioned by."""


class AnalystMixin(StoreBase):
    """Read-only SQL and Parquet export."""

    # Analysts ------------------------------------------------------------------------------
    def sql(self, query: str, limit: int | None = None) -> QueryResult:
        """Run an analyst's read-only query on a read-only connection.

        Raises:
            QueryError: the query writes, is empty or is malformed (DuckDB's message).
            StoreError: there is no database yet.
        """
        try:
            statements = duckdb.extract_statements(query)
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from None
        if not statements:
            raise QueryError("the query is empty")
        for statement in statements:
            if statement.type not in _READ_STATEMENTS:
                kind = str(statement.type.name)
                raise QueryError(f"only read-only queries are allowed (SELECT, WITH, DESCRIBE, "
                                 f"SHOW, SUMMARIZE, EXPLAIN); this is a {kind} statement")
        self._require_database()
        with PROCESS_LOCK:
            con = self._open(read_only=True)
            try:
                for statement in statements[:-1]:
                    con.execute(statement.query)
                cursor = con.execute(statements[-1].query)
                columns = [d[0] for d in cursor.description or ()]
                rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
            except duckdb.Error as exc:
                raise QueryError(one_line(exc)) from None
            finally:
                con.close()
        return QueryResult(columns=columns, rows=[tuple(r) for r in rows])

    def export_parquet(self, directory: Path) -> list[Path]:
        """Write each non-empty history table as Parquet partitioned by UTC day.

        Writes ``<directory>/<table>/day=YYYY-MM-DD/*.parquet``, replacing an earlier export of
        the same table.

        Returns:
            The table directories written.
        """
        self._flush_if_pending()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        with self._connection(write=False) as con:
            for table, column in _EXPORT_TABLES.items():
                row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
                if not row or not row[0]:
                    continue
                target = directory / table
                con.execute(f"COPY (SELECT *, CAST({column} AS DATE) AS day FROM {table}) "
                            f"TO {quote_path(target)} "
                            "(FORMAT parquet, PARTITION_BY (day), OVERWRITE)")
                written.append(target)
        return written

