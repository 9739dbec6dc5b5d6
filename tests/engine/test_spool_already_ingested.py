"""A segment put back under a name the ``spool_segments`` ledger already lists (issue 14,
item 1). A genuine leftover of a crash between ingest and delete has the ledgered checksum:
it is deleted quietly. A file with a valid header but other rows under that name used to be
deleted just as quietly; it is now refused into ``spool/refused/`` with a one-line warning
naming it and why. Neither adds a row twice. On a real store (DuckDB file, and PostgreSQL)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.records import PredictionRecord
from engine.store import Store
from engine.store.spool import Spool, _encode

T0 = datetime(2026, 11, 29, 12, 0, 0)


def _line(i: int, label: str = "ham") -> bytes:
    return _encode(PredictionRecord(id=f"p{i:04d}", ts=T0 + timedelta(seconds=i), text="hello",
                                    model_version=1, label=label, spam_probability=0.1,
                                    latency_ms=1.0, source="test"))


@pytest.fixture
def store(tmp_path: Path, store_url: str | None) -> Store:
    opened = Store(tmp_path / "spamops.duckdb", tmp_path / "spool", clock=SimulatedClock(T0),
                   url=store_url, flush_seconds=3600)
    opened.migrate()
    yield opened  # type: ignore[misc]
    opened.close()


def _ingested_segment(store: Store) -> tuple[Path, bytes]:
    """A dead writer's sealed segment, recovered (ingested, ledgered, deleted): its path and
    the bytes it had."""
    dead = Spool(store.spool_dir, key=store._spool_key)
    dead.append(_line(1) + _line(2) + _line(3), 3)
    dead.release()  # as at its close when the store was away: sealed, left for recovery
    [path] = store.spool_dir.glob("*.jsonl")
    data = path.read_bytes()
    assert store.recover_spool() == 3
    assert not path.exists()
    return path, data


def _labels(store: Store) -> dict[str, str]:
    with store._connection(write=False) as con:
        return dict(con.execute("SELECT id, label FROM predictions").fetchall())


def test_a_genuine_leftover_of_an_ingested_segment_is_removed_quietly(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    path, data = _ingested_segment(store)
    path.write_bytes(data)  # as a crash between the ingest's commit and the delete leaves it

    with caplog.at_level(logging.WARNING, logger="spamops.store"):
        assert store.recover_spool() == 0

    assert not path.exists()
    assert not (store.spool_dir / "refused").exists()
    assert not [r for r in caplog.records if path.name in r.getMessage()]
    assert _labels(store) == {"p0001": "ham", "p0002": "ham", "p0003": "ham"}


def test_forged_rows_under_an_ingested_name_are_refused_with_a_warning(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    path, data = _ingested_segment(store)
    header = data[:data.index(b"\n") + 1]  # the legitimate, tagged header of that name
    # Unsealed, as a killed writer leaves it, so the header alone vouches for the rows.
    path.write_bytes(header + _line(2, label="spam") + _line(4, label="spam"))

    with caplog.at_level(logging.WARNING, logger="spamops.store"):
        assert store.recover_spool() == 0

    refused = store.spool_dir / "refused" / path.name
    assert refused.exists() and not path.exists()
    assert refused.read_bytes().startswith(header)  # moved as it was, for review
    [warning] = [r.getMessage() for r in caplog.records if path.name in r.getMessage()]
    assert "\n" not in warning
    assert f"spool segment {path.name} refused: it was already ingested under this name" \
        in warning
    assert "checksum mismatch" in warning and str(refused) in warning
    assert _labels(store) == {"p0001": "ham", "p0002": "ham", "p0003": "ham"}
    with store._connection(write=False) as con:
        assert con.execute("SELECT count(*) FROM spool_segments WHERE name = ?",
                           [path.name]).fetchone() == (1,)
    assert store.recover_spool() == 0  # refused once; nothing left to scan
