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
