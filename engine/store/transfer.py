"""Moving a single-machine DuckDB history into an empty PostgreSQL database
(``spamops store migrate --to postgresql://...``).

Owns ``migrate_home``: it upgrades the DuckDB file to the current schema and ingests what
dead processes left in the spool, then, holding the file read-write (no other process can
write it meanwhile), creates the schema in the target and copies every table in **one
PostgreSQL transaction** (``COPY``, in batches), checks that each table holds the same number
of rows on both sides, moves the sequences past the copied ids, and commits: a failure leaves
the target as it was. The audit chain is copied row for row, so it verifies with the same
data home key, which stays in the home (every other host needs a copy of it). It refuses a
target that already holds spamops rows or other tables, and a home whose spool a live process
still writes.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from engine.errors import Refused, StoreError
from engine.records import AuditVerification
from engine.store.schema import SCHEMA_VERSION
from engine.store.spool import SEGMENT_SUFFIX
from engine.store.spool_files import NotASegmentFile, open_segment_file

if TYPE_CHECKING:
    from engine.store.history import Store
    from engine.store.postgres import PgConnection

BATCH_ROWS = 50_000
"""Rows read from DuckDB and sent with one COPY at a time (bounded memory)."""

SEQUENCES = {"feedback_seq": ("feedback", "id"), "outbox_seq": ("outbox", "seq")}
"""Sequences of the schema and the column whose copied values they must pass."""

Progress = Callable[[str, int, int], None]
"""Called as ``progress(table, rows_copied, rows_total)`` after each batch."""


class TargetNotEmpty(Refused):
    """The target database already holds data: a migration only goes into an empty one."""


@dataclasses.dataclass(frozen=True)
class MigrationReport:
    """What ``migrate_home`` copied: rows per table, spool rows recovered on the way, the
    audit chain's verification on the target, and how long it took."""

    source: str
    target: str
    schema_version: int
    tables: dict[str, int]
    spool_rows: int
    audit: AuditVerification
    seconds: float


def migrate_home(source: Store, target: Store,
                 progress: Progress | None = None) -> MigrationReport:
    """Copy the DuckDB history of ``source`` into the empty PostgreSQL database of
    ``target`` (see the module docstring).

    Raises:
        TargetNotEmpty: the target has tables that are not an empty spamops schema.
        Refused: a live process still writes the source's spool.
        StoreError: the source is not DuckDB, the target not PostgreSQL, or a table's row
            count differs after the copy (nothing is committed then).
    """
    if source.dialect != "duckdb" or target.dialect != "postgresql":
        raise StoreError("store migrate copies a DuckDB history into PostgreSQL "
                         "(--to postgresql://...)")
    started = time.monotonic()
    _refuse_live_spool(source.spool_dir)
    _refuse_non_empty(target)
    if source.schema_version() != SCHEMA_VERSION:
        source.migrate()
    spool_rows = source.recover_spool()
    tables: dict[str, int] = {}
    with source._connection(write=True) as duck, target._transaction() as pg_any:
        pg = cast("PgConnection", pg_any)
        pg.lock("migrate")
        target._apply_postgres_migrations(pg)
        target_columns = _columns(pg)
        for table in _source_tables(duck):
            if table == "schema_version" or table not in target_columns:
                continue
            columns = [c for c in _source_columns(duck, table) if c in target_columns[table]]
            tables[table] = _copy_table(duck, pg, table, columns, progress)
        for sequence, (table, column) in SEQUENCES.items():
            pg.execute(f"SELECT setval('{sequence}', (SELECT coalesce(max({column}), 0) + 1 "
                       f"FROM {table}), false)")
    audit = target.verify_audit()
    return MigrationReport(source=f"duckdb:///{source.db_path}", target=target.url,
                           schema_version=SCHEMA_VERSION, tables=tables,
                           spool_rows=spool_rows, audit=audit,
                           seconds=time.monotonic() - started)


def _refuse_live_spool(spool_dir: Path) -> None:
    for path in sorted(spool_dir.glob(f"*{SEGMENT_SUFFIX}")) if spool_dir.is_dir() else []:
        try:
            fd = open_segment_file(path)  # never blocks on a FIFO, never follows links
        except (FileNotFoundError, NotASegmentFile):
            continue  # gone, or not a segment (recovery refuses and moves it aside)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(f"a spamops process still writes this home's spool ({path.name} is "
                          "locked): stop the API and the monitor first") from None
        finally:
            os.close(fd)


def _refuse_non_empty(target: Store) -> None:
    with target._connection(write=False) as con:
        tables = [str(r[0]) for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() ORDER BY table_name").fetchall()]
        if not tables:
            return
        known = {"schema_version"} | {name for name in _SPAMOPS_TABLES}
        foreign = [t for t in tables if t not in known and not t.startswith("v_")]
        rows = 0
        for table in tables:
            if table in _SPAMOPS_TABLES:
                row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
                rows += int(row[0]) if row else 0
    if foreign or rows:
        what = f"{rows} rows of spamops history" if rows else f"other tables ({foreign[0]}, ...)"
        raise TargetNotEmpty(f"refused: {target.url} is not empty ({what}); migrate into a "
                             "new, empty database (createdb NAME)")


_SPAMOPS_TABLES = ("predictions", "feedback", "drift_snapshots", "decisions",
                   "retraining_events", "approvals", "model_versions", "job_runs", "audit_log",
                   "spool_segments", "evaluation_messages", "accepted_baseline", "alias_moves",
                   "outbox")


def _source_tables(duck: Any) -> list[str]:
    return [str(r[0]) for r in duck.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]


def _source_columns(duck: Any, table: str) -> list[str]:
    return [str(r[0]) for r in duck.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND "
        "table_schema = current_schema() ORDER BY ordinal_position", [table]).fetchall()]


def _columns(pg: PgConnection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in pg.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE "
            "table_schema = current_schema()").fetchall():
        found.setdefault(str(table), set()).add(str(column))
    return found


def _copy_table(duck: Any, pg: PgConnection, table: str, columns: list[str],
                progress: Progress | None) -> int:
    total_row = duck.execute(f"SELECT count(*) FROM {table}").fetchone()
    total = int(total_row[0]) if total_row else 0
    copied = 0
    if total:
        names = ", ".join(columns)
        cursor = duck.cursor()  # a streaming result of its own, beside the counts
        try:
            reader = cursor.sql(f"SELECT {names} FROM {table}").to_arrow_reader(BATCH_ROWS)
            for batch in reader:
                copied += pg.copy_rows(table, columns, batch)
                if progress is not None:
                    progress(table, copied, total)
        finally:
            cursor.close()
    elif progress is not None:
        progress(table, 0, 0)
    landed = pg.execute(f"SELECT count(*) FROM {table}").fetchone()
    if not landed or int(landed[0]) != total:
        raise StoreError(f"{table}: {total} rows in DuckDB but {landed[0] if landed else 0} "
                         "reached PostgreSQL; nothing was committed")
    return total
