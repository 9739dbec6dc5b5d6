"""Migrations numbered in parallel by several branches: a file that lands after a higher
number was applied still runs (issue 17 took 011 while others took 004-010 and landed later)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.store import SCHEMA_VERSION, Store, schema


def test_a_migration_numbered_below_the_applied_maximum_still_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "h.duckdb", tmp_path / "spool", clock=SimulatedClock(
        datetime(2026, 3, 1)))
    shipped = schema.migrations()
    high = SCHEMA_VERSION + 20
    early = (high, f"{high:03d}_landed_first.sql", "CREATE TABLE landed_first (id INTEGER);")
    monkeypatch.setattr(schema, "migrations", lambda: sorted([*shipped, early]))
    assert store.migrate() == high
    late = (high - 10, f"{high - 10:03d}_landed_later.sql",
            "CREATE TABLE landed_later (id INTEGER);")
    monkeypatch.setattr(schema, "migrations", lambda: sorted([*shipped, early, late]))
    assert store.migrate() == high  # still the highest
    tables = {row[0] for row in store.sql("SHOW TABLES").rows}
    assert {"landed_first", "landed_later"} <= tables
    versions = [row[0] for row in store.sql("SELECT version FROM schema_version").rows]
    assert versions.count(high - 10) == 1
    assert store.migrate() == high  # and only once
    store.close()


def test_a_real_migration_that_lands_late_runs_on_a_home_already_past_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """006 (issue 14's ingest numbers) landed after 008-011 were in use: a home migrated
    without it gets it, with its backfill, on the next migrate."""
    shipped = schema.migrations()
    late = next(m for m in shipped if m[1] == "006_ingest_seq.sql")
    monkeypatch.setattr(schema, "migrations", lambda: [m for m in shipped if m != late])
    store = Store(tmp_path / "h.duckdb", tmp_path / "spool", clock=SimulatedClock(
        datetime(2026, 3, 1)))
    assert store.migrate() == SCHEMA_VERSION
    monkeypatch.setattr(schema, "migrations", lambda: shipped)
    assert store.migrate() == SCHEMA_VERSION
    columns = {row[0] for row in store.sql("DESCRIBE predictions").rows}
    assert "ingest_seq" in columns
    versions = {row[0] for row in store.sql("SELECT version FROM schema_version").rows}
    assert 6 in versions
    store.close()
