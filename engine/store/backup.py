"""Copying the whole history into another DuckDB file, consistently, while others write.

Owns ``copy_database_to``, in two steps:

1. under the store's per-process lock and an exclusive (read-write) open of the history file,
   so no process can write meanwhile: count every table, ``CHECKPOINT`` (the WAL is folded
   into the file and emptied), and copy the file's bytes to a snapshot beside the target.
   Writers that arrive meanwhile wait with the usual back-off; this hold is a plain file copy;
2. with no lock on the live file: DuckDB's ``COPY FROM DATABASE`` from the snapshot into the
   target (tables, views, sequences with their current values), which writes only live rows,
   so blocks freed by a prune are not carried over; then the snapshot is deleted.

``table_counts`` reads the same counts from any store, for verifying a copy. Which files make
up a data home, and the backup folder's manifest, are ``engine.backup``'s business.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import cast

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
        if self._pg is not None:
            with self._connection(write=False) as pg:
                tables = [str(r[0]) for r in pg.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
                ).fetchall()]
                counts = {}
                for table in tables:
                    row = pg.execute(f'SELECT count(*) FROM "{table}"').fetchone()
                    counts[table] = int(row[0]) if row else 0
                return counts
        with self._connection(write=False) as con:
            row = con.execute("SELECT current_database()").fetchone()
            return _counts(cast(duckdb.DuckDBPyConnection, con), str(row[0]) if row else "")

    def copy_database_to(self, target: Path) -> dict[str, int]:
        """Copy the whole history into the new DuckDB file ``target``; returns the row counts
        of every table, taken in the same exclusive hold as the snapshot.

        Source: DuckDB's ``COPY FROM DATABASE`` (duckdb.org/docs/sql/statements/copy).

        Raises:
            StoreError: ``target`` exists, the store is read-only, or DuckDB failed.
            StoreBusy: another process held the file longer than ``busy_timeout``.
        """
        target = Path(target)
        if self._pg is not None:
            raise StoreError("the history is in PostgreSQL: back it up with pg_dump "
                             "(docs/deploy.md), not `spamops backup`")
        if target.exists():
            raise StoreError(f"{target} already exists: a backup is written to a new file")
        self._flush_if_pending()
        snapshot = target.with_name(f".{target.name}.snapshot")
        with self._connection(write=True) as con:
            row = con.execute("SELECT current_database()").fetchone()
            counts = _counts(cast(duckdb.DuckDBPyConnection, con), str(row[0]) if row else "")
            con.execute("CHECKPOINT")
            shutil.copyfile(self.db_path, snapshot)
        literal = str(snapshot.resolve()).replace("'", "''")
        try:
            con = duckdb.connect(str(target))
            try:
                con.execute(f"ATTACH '{literal}' AS {_COPY_ALIAS} (READ_ONLY)")
                row = con.execute("SELECT current_database()").fetchone()
                con.execute(f'COPY FROM DATABASE {_COPY_ALIAS} TO "{row[0] if row else ""}"')
                con.execute(f"DETACH {_COPY_ALIAS}")
            finally:
                con.close()
        except duckdb.Error as exc:
            target.unlink(missing_ok=True)
            raise StoreError(f"could not copy the history to {target}: "
                             f"{one_line(exc)}") from None
        finally:
            snapshot.unlink(missing_ok=True)
        return counts
