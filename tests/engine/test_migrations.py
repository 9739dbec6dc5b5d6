"""Migrations numbered in parallel by several branches: a file that lands after a higher
number was applied still runs (issue 17 took 011 while others took 004-010 and landed later);
on both backends (PostgreSQL applies its own version of a file where there is one)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.store import SCHEMA_VERSION, Store, schema


def _tables(store: Store) -> set[str]:
    return {row[0] for row in store.sql("SELECT table_name FROM information_schema.tables").rows}


def _columns(store: Store, table: str) -> set[str]:
    return {row[0] for row in store.sql("SELECT column_name FROM information_schema.columns "
                                        f"WHERE table_name = '{table}'").rows}


def test_a_migration_numbered_below_the_applied_maximum_still_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str | None) -> None:
    store = Store(tmp_path / "h.duckdb", tmp_path / "spool", clock=SimulatedClock(
        datetime(2026, 3, 1)), url=store_url)
    shipped = schema.migrations(store.dialect)
    high = SCHEMA_VERSION + 20
    early = (high, f"{high:03d}_landed_first.sql", "CREATE TABLE landed_first (id INTEGER);")
    monkeypatch.setattr(schema, "migrations", lambda dialect="duckdb": sorted([*shipped, early]))
    assert store.migrate() == high
    late = (high - 10, f"{high - 10:03d}_landed_later.sql",
            "CREATE TABLE landed_later (id INTEGER);")
    monkeypatch.setattr(schema, "migrations",
                        lambda dialect="duckdb": sorted([*shipped, early, late]))
    assert store.migrate() == high  # still the highest
    assert {"landed_first", "landed_later"} <= _tables(store)
    versions = [row[0] for row in store.sql("SELECT version FROM schema_version").rows]
    assert versions.count(high - 10) == 1
    assert store.migrate() == high  # and only once
    store.close()


def test_a_real_migration_that_lands_late_runs_on_a_home_already_past_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str | None) -> None:
    """006 (issue 14's ingest numbers) landed after 008-011 were in use: a home migrated
    without it gets it, with its backfill, on the next migrate."""
    store = Store(tmp_path / "h.duckdb", tmp_path / "spool", clock=SimulatedClock(
        datetime(2026, 3, 1)), url=store_url)
    shipped = schema.migrations(store.dialect)
    # On PostgreSQL 012 indexes ingest_seq, so it lands late with 006 there.
    late = [m for m in shipped if m[1] == "006_ingest_seq.sql"
            or (store.dialect == "postgresql" and m[1] == "012_prediction_ids.sql")]
    monkeypatch.setattr(schema, "migrations",
                        lambda dialect="duckdb": [m for m in shipped if m not in late])
    assert store.migrate() == max(m[0] for m in shipped if m not in late)
    monkeypatch.setattr(schema, "migrations", lambda dialect="duckdb": shipped)
    assert store.migrate() == SCHEMA_VERSION
    assert "ingest_seq" in _columns(store, "predictions")
    versions = {row[0] for row in store.sql("SELECT version FROM schema_version").rows}
    assert 6 in versions
    store.close()


def test_postgresql_runs_its_own_version_of_a_file_only_where_there_is_one() -> None:
    duck = {version: name for version, name, _ in schema.migrations("duckdb")}
    pg = schema.migrations("postgresql")
    assert [v for v, _, _ in pg] == sorted(duck) and max(duck) == SCHEMA_VERSION
    overridden = {v for v, _, sql in pg if sql != dict(
        (v2, s2) for v2, _, s2 in schema.migrations("duckdb"))[v]}
    assert overridden == {1, 2, 3, 5, 6, 12}
