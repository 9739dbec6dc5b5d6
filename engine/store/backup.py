"""Copying the whole history into another DuckDB file, consistently, while others write.

Owns ``copy_database_to``: under the store's per-process lock and an exclusive (read-write)
open of the history file, so no process can write during the copy, it counts every table and
copies the database with DuckDB's own ``COPY FROM DATABASE`` (tables, views, sequences with
their current values) into a new file. Writers that arrive meanwhile wait with the usual
back-off. ``table_counts`` reads the same counts from any store, for verifying a copy. Which
files make up a data home, and the backup folder's manifest, are ``engine.backup``'s business.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from engine.errors import StoreError
from engine.store.connection import StoreBase, one_line

_COPY_ALIAS = "spamops_backup_target"


def _counts(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
    tables = [str(r[0]) for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND NOT temporary "
        "ORDER BY table_name", [database]).fetchall()]
    counts = {}
    for table in tables:
        row = con.execute(f'SELECT count(*) FROM "{database}".main."{table}"').fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


class BackupMixin(StoreBase):
    """Consistent copies of the history file."""

    def table_counts(self) -> dict[str, int]:
        """Rows per table of the history, by table name."""
        with self._connection(write=False) as con:
            row = con.execute("SELECT current_database()").fetchone()
            return _counts(con, str(row[0]) if row else "")

    def copy_database_to(self, target: Path) -> dict[str, int]:
        """Copy the whole history into the new DuckDB file ``target``; returns the row counts
        of every table, taken in the same exclusive hold as the copy.

        Source: DuckDB's ``COPY FROM DATABASE`` (duckdb.org/docs/sql/statements/copy).

        Raises:
            StoreError: ``target`` exists, the store is read-only, or DuckDB failed.
            StoreBusy: another process held the file longer than ``busy_timeout``.
        """
        target = Path(target)
        if target.exists():
            raise StoreError(f"{target} already exists: a backup is written to a new file")
        self._flush_if_pending()
        literal = str(target.resolve()).replace("'", "''")
        with self._connection(write=True) as con:
            row = con.execute("SELECT current_database()").fetchone()
            source = str(row[0]) if row else ""
            counts = _counts(con, source)
            try:
                con.execute(f"ATTACH '{literal}' AS {_COPY_ALIAS}")
                con.execute(f'COPY FROM DATABASE "{source}" TO {_COPY_ALIAS}')
                con.execute(f"DETACH {_COPY_ALIAS}")
            except duckdb.Error as exc:
                raise StoreError(f"could not copy the history to {target}: "
                                 f"{one_line(exc)}") from None
        return counts
