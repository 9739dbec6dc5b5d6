"""Copying the whole history into another DuckDB file, consistently, while others write.

Owns ``copy_database_to``, in two steps:

1. under the store's per-process lock and an exclusive (read-write) open of the history file,
   so no process can write meanwhile: count every table, ``CHECKPOINT`` (the WAL is folded
   into the file and emptied), and copy the file's bytes to a snapshot beside the target.
   Writers that arrive meanwhile wait with the usual back-off; this hold is a plain file copy;
2. with no lock on the live file: DuckDB's ``COPY FROM DATABASE`` from the snapshot into the
   target (tables, views, sequences with their current values), which writes only live rows,
   so blocks freed by a prune are not carried over; then the snapshot is deleted.

``compact_in_place`` rewrites the history file itself the same way (``spamops prune
--compact``): DuckDB keeps the bytes of updated and deleted rows in the file's free blocks
(``CHECKPOINT`` only marks them free, ``VACUUM`` does not reclaim them; see DuckDB's
"Reclaiming Space" page), so a pruned text stays readable in the file until ``COPY FROM
DATABASE`` writes a new file with the live rows only. The new file takes the old one's name
with ``os.replace`` while both files are held open by this process, so no other process can
open either in between and write where it would be lost.

``table_counts`` reads the same counts from any store, for verifying a copy. Which files make
up a data home, and the backup folder's manifest, are ``engine.backup``'s business.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import duckdb

from engine.errors import StoreError
from engine.store.connection import PROCESS_LOCK, StoreBase, one_line

_COPY_ALIAS = "spamops_backup_target"
_COMPACT_ALIAS = "spamops_compacted"


@dataclass(frozen=True)
class Compaction:
    """What ``compact_in_place`` did."""

    bytes_before: int
    bytes_after: int
    tables: int
    rows: int
    """Rows in all tables, equal before and after."""


def _constraints(con: duckdb.DuckDBPyConnection, database: str) -> list[tuple[str, str]]:
    return sorted((str(r[0]), str(r[1])) for r in con.execute(
        "SELECT table_name, constraint_type FROM duckdb_constraints() WHERE database_name = ?",
        [database]).fetchall())


def copy_open_file(source: int, target: Path) -> None:
    """Copy the whole file behind the open descriptor ``source`` to ``target`` (created).

    Reads through the caller's descriptor, never opening the source by name: a process that
    holds a DuckDB connection must not open and close another descriptor of the database file
    (closing it drops the connection's POSIX lock; see ``copy_database_to``).
    """
    with open(target, "xb") as out:
        shutil.copyfileobj(os.fdopen(source, "rb", closefd=False), out, 1 << 20)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        if self._held_connection() is not None:
            raise StoreError("a backup cannot run inside a store session")
        # DuckDB's lock on the file is a POSIX record lock, which a process loses when it
        # closes ANY descriptor of the file: copying by name under the connection
        # (open, read, close) let another process open the file read-write in the middle of
        # the hold. So the file is opened before the connection and closed after it, with
        # PROCESS_LOCK held throughout (no other thread of this process connects meanwhile).
        with PROCESS_LOCK:
            source = os.open(self.db_path, os.O_RDONLY)
            try:
                with self._connection(write=True) as con:
                    row = con.execute("SELECT current_database()").fetchone()
                    counts = _counts(cast(duckdb.DuckDBPyConnection, con),
                                     str(row[0]) if row else "")
                    con.execute("CHECKPOINT")
                    copy_open_file(source, snapshot)
            finally:
                os.close(source)
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

    def compact_in_place(self, check: Callable[[Path], None] | None = None) -> Compaction:
        """Rewrite the history file with its live rows only, and put it in the old one's place.

        Under an exclusive (read-write) open of the live file: ``CHECKPOINT``, ``COPY FROM
        DATABASE`` into a new file beside it, the new file's row counts and constraints
        compared with the live one's, ``check(new file)`` (the caller's verification, e.g. the
        audit chain), fsync; then the new file is opened too (so it is locked before it has
        the name) and renamed over the live one, and only then are both closed. Processes
        that try to open the history meanwhile wait with their usual back-off and then open
        the new file. The caller makes sure no server or scheduler is running.

        Source: DuckDB's "Reclaiming Space" (``COPY FROM DATABASE`` into a fresh file).

        Raises:
            StoreError: the copy differs from the live file, ``check`` failed, or DuckDB did;
                the live file is then left as it was.
            StoreBusy: another process held the file longer than ``busy_timeout``.
        """
        if self._pg is not None:
            raise StoreError("--compact rewrites a DuckDB history file; on PostgreSQL, "
                             "`VACUUM FULL predictions` rewrites the table without dead rows")
        if self.read_only:
            raise StoreError("a read-only store cannot be compacted")
        self._require_database()
        self._flush_if_pending()
        fresh = self.db_path.with_name(f".{self.db_path.name}.compact")
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            leftover.unlink(missing_ok=True)  # from a compaction that was killed half-way
        literal = str(fresh.resolve()).replace("'", "''")
        before = self.db_path.stat().st_size
        with PROCESS_LOCK:
            live = self._open(read_only=False)
            hold: duckdb.DuckDBPyConnection | None = None
            replaced = False
            try:
                try:
                    row = live.execute("SELECT current_database()").fetchone()
                    name = str(row[0]) if row else ""
                    counts = _counts(live, name)
                    live.execute("CHECKPOINT")
                    live.execute(f"ATTACH '{literal}' AS {_COMPACT_ALIAS}")
                    live.execute(f'COPY FROM DATABASE "{name}" TO {_COMPACT_ALIAS}')
                    same = (_counts(live, _COMPACT_ALIAS) == counts
                            and _constraints(live, _COMPACT_ALIAS) == _constraints(live, name))
                    live.execute(f"DETACH {_COMPACT_ALIAS}")
                except duckdb.Error as exc:
                    raise StoreError(f"could not compact the history: {one_line(exc)}") from None
                if not same:
                    raise StoreError("could not compact the history: the rewritten file does "
                                     "not hold the same rows and constraints; nothing changed")
                if check is not None:
                    check(fresh)
                _fsync(fresh)
                hold = self._open(read_only=False, path=fresh)
                os.replace(fresh, self.db_path)
                replaced = True
                _fsync(self.db_path.parent)
            except BaseException:
                if not replaced:
                    fresh.unlink(missing_ok=True)
                raise
            finally:
                self._close(live)  # the old file: no longer reachable by name
                if hold is not None:
                    self._close(hold)
        return Compaction(bytes_before=before, bytes_after=self.db_path.stat().st_size,
                          tables=len(counts), rows=sum(counts.values()))
