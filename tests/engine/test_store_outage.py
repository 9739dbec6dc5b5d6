"""No acknowledged prediction is lost while PostgreSQL is away: the spool keeps them, the
store says it is unreachable at once, and the spool drains exactly once when the real server
(stopped and started again here) is back."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from engine.clock import SimulatedClock
from engine.errors import StoreUnreachable
from engine.records import PredictionRecord
from engine.store import Store, read_segment
from tests.postgres import PostgresServer

T0 = datetime(2026, 11, 2, 8, 0, 0)


def _prediction(i: int) -> PredictionRecord:
    return PredictionRecord(id=f"p{i:05d}", ts=T0 + timedelta(seconds=i), text=f"text {i}",
                            model_version=1, label="ham", spam_probability=0.1,
                            latency_ms=1.0, source="test")


def _wait(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_the_spool_holds_predictions_while_postgresql_is_away_and_drains_once(
        tmp_path: Path, postgres_url: str, postgres_server: PostgresServer) -> None:
    store = Store(tmp_path / "spamops.duckdb", tmp_path / "spool", clock=SimulatedClock(T0),
                  url=postgres_url, flush_seconds=0.1)
    store.migrate()
    try:
        store.log_predictions([_prediction(i) for i in range(50)])
        assert _wait(lambda: store.spool_status().spooled == 0, 10)
        postgres_server.stop()
        try:
            started = time.monotonic()
            for i in range(50, 250):  # answered while the database is away: never blocks
                store.log_prediction(_prediction(i))
            assert time.monotonic() - started < 1.0
            assert _wait(lambda: not store.spool_status().reachable, 15)
            status = store.spool_status()
            assert status.spooled == 200 and status.error
            began = time.monotonic()
            with pytest.raises(StoreUnreachable, match="cannot be reached"):
                store.count_predictions()
            assert time.monotonic() - began < 1.0  # known to be away: fails at once
        finally:
            postgres_server.start()
        assert _wait(lambda: store.spool_status() == type(status)(True, 0, ""), 20)
        assert store.count_predictions() == 250
        [(distinct,)] = store.sql("SELECT count(DISTINCT id) FROM predictions").rows
        assert distinct == 250
        assert list((tmp_path / "spool").glob("*.jsonl")) == []
    finally:
        store.close()


def test_prediction_ids_are_the_idempotency_key_on_postgresql(
        tmp_path: Path, postgres_url: str) -> None:
    """A batch whose commit reached the server but whose answer did not is retried; on
    PostgreSQL the prediction ids (ON CONFLICT (id) DO NOTHING) keep it from counting twice
    even under another segment name."""
    store = Store(tmp_path / "spamops.duckdb", tmp_path / "spool", clock=SimulatedClock(T0),
                  url=postgres_url, flush_seconds=60)
    store.migrate()
    try:
        store.log_predictions([_prediction(i) for i in range(10)])
        segment = next((tmp_path / "spool").glob("*.jsonl"))
        rows: pa.Table = read_segment(segment)
        assert store.flush() == 10
        assert store._ingest([(tmp_path / "retried-under-another-name.jsonl", rows, "x")]) == 0
        assert store.count_predictions() == 10
    finally:
        store.close()
