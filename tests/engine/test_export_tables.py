"""`spamops export` writes every table the history has: the set is read from the database's
catalogue, so the outbox (webhook deliveries), the ledgers and any table a later migration
adds are exported too."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from engine.clock import SimulatedClock
from engine.store import Store

T0 = datetime(2026, 11, 2, 8, 0, 0)
LITERALS = {"VARCHAR": "'x'", "TIMESTAMP": "TIMESTAMP '2026-11-02 08:00:00'",
            "INTEGER": "1", "BIGINT": "1", "DOUBLE": "0.5", "BOOLEAN": "true",
            "DATE": "DATE '2026-11-02'"}


def _fill_every_table(db: Path) -> set[str]:
    """One row in every table of ``db`` (typed literals, column by column); the table names."""
    with duckdb.connect(str(db)) as con:
        tables = {str(r[0]) for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
        for table in tables:
            if con.execute(f'SELECT count(*) FROM "{table}"').fetchone() != (0,):
                continue
            columns = con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                  "WHERE table_name = ? ORDER BY column_index",
                                  [table]).fetchall()
            names = ", ".join(f'"{c}"' for c, _ in columns)
            values = ", ".join(LITERALS[t] for _, t in columns)
            con.execute(f'INSERT INTO "{table}" ({names}) VALUES ({values})')
    return tables


def test_export_writes_every_table_of_the_history(tmp_path: Path) -> None:
    db, spool = tmp_path / "spamops.duckdb", tmp_path / "spool"
    store = Store(db, spool, clock=SimulatedClock(T0), flush_seconds=60)
    store.migrate()
    store.close()
    tables = _fill_every_table(db)
    assert {"outbox", "alias_moves", "accepted_baseline", "evaluation_messages",
            "spool_segments", "predictions", "audit_log"} <= tables

    reader = Store(db, spool, clock=SimulatedClock(T0), read_only=True)
    try:
        written = reader.export_parquet(tmp_path / "out")
    finally:
        reader.close()

    assert {p.name for p in written} == tables
    with duckdb.connect() as con:
        outbox = con.execute(f"SELECT receiver, day FROM read_parquet('{tmp_path}/out/outbox/"
                             "*/*.parquet', hive_partitioning = true)").fetchall()
    assert [(r, str(d)) for r, d in outbox] == [("x", "2026-11-02")]
