"""Migrations numbered in parallel by several branches: a file that lands after a higher
number was applied still runs (issue 17 takes 011 while others take 004-010)."""

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
    assert store.migrate() == SCHEMA_VERSION
    shipped = schema.migrations()
    numbers = {version for version, _, _ in shipped}
    gap = min(set(range(1, SCHEMA_VERSION)) - numbers)  # a number another branch may take
    late = (gap, f"{gap:03d}_late_branch.sql", "CREATE TABLE late_branch (id INTEGER);")
    monkeypatch.setattr(schema, "migrations", lambda: sorted([*shipped, late]))
    assert store.migrate() == SCHEMA_VERSION  # still the highest
    tables = {row[0] for row in store.sql("SHOW TABLES").rows}
    assert "late_branch" in tables
    versions = {row[0] for row in store.sql("SELECT version FROM schema_version").rows}
    assert gap in versions
    assert store.migrate() == SCHEMA_VERSION  # and only once
    store.close()
