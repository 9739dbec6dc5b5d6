"""A spool segment the store refuses for its content must not block the host's spool: its good
rows land, its refused rows go to ``spool/rejected/`` with a note and an audit record, later
segments keep flowing, and ``reingest`` puts the fixed rows back exactly once. On both
backends (a row an older writer left without its source violates ``NOT NULL`` on each; on
PostgreSQL a NUL character cannot be stored at all)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.errors import StoreError
from engine.records import PredictionRecord
from engine.store import Store
from engine.store.spool import Spool, _encode, split_segment

T0 = datetime(2026, 11, 29, 12, 0, 0)


def _line(i: int, text: str = "hello", *, old: bool = False) -> bytes:
    record = PredictionRecord(id=f"p{i:04d}", ts=T0 + timedelta(seconds=i), text=text,
                              model_version=1, label="ham", spam_probability=0.1,
                              latency_ms=1.0, source="test")
    if old:  # as a writer from before predictions had a source would have left it
        fields = json.loads(_encode(record))
        del fields["source"]
        return (json.dumps(fields) + "\n").encode()
    return _encode(record)


@pytest.fixture
def store(tmp_path: Path, store_url: str | None) -> Store:
    opened = Store(tmp_path / "spamops.duckdb", tmp_path / "spool", clock=SimulatedClock(T0),
                   url=store_url, flush_seconds=3600)
    opened.migrate()
    yield opened  # type: ignore[misc]
    opened.close()


def test_refused_rows_are_set_aside_and_the_rest_of_the_spool_keeps_flowing(
        store: Store, store_url: str | None) -> None:
    # A segment another (dead) process left: two good rows around one without its source.
    other = Spool(store.spool_dir, key=store._spool_key)
    other.append(_line(1) + _line(2, old=True) + _line(3), 3)
    other.release()
    [left] = store.spool_dir.glob("*.jsonl")
    body = split_segment(left, left.read_bytes()).body
    assert store.recover_spool() == 2
    assert store.count_predictions() == 2
    rejected = store.spool_dir / "rejected" / left.name
    assert [json.loads(line)["id"] for line in rejected.read_text().splitlines()] == ["p0002"]
    note = (rejected.parent / (left.name + ".reason.txt")).read_text()
    assert "rejected rows: 1 of 3" in note and "spamops store reingest" in note
    [record] = [r for r in store.audit_records() if r.action == "spool.rejected"]
    assert record.details["segment"] == left.name and record.details["rows"] == 1
    assert record.details["sha256"] == hashlib.sha256(body).hexdigest()
    assert store.rejected_segments() == 1
    assert store.verify_audit().ok
    assert store.recover_spool() == 0 and not left.exists()  # nothing twice

    # This process's own spool: a refused row among good ones; the next flush goes on.
    store.log_predictions([PredictionRecord(
        id=f"q{i}", ts=T0, text="fine", model_version=1, label="spam",
        spam_probability=0.9, latency_ms=1.0, source="test") for i in range(3)])
    poison = _line(9, "a\x00b") if store_url else _line(9, old=True)
    store._append(poison, 1)
    assert store.flush() == 3
    assert store.rejected_segments() == 2
    assert store.spool_status().failing == ""
    store.log_prediction(PredictionRecord(id="later", ts=T0, text="later", model_version=1,
                                          label="ham", spam_probability=0.1, latency_ms=1.0,
                                          source="test"))
    assert store.flush() == 1
    assert store.count_predictions() == 6

    # The operator fixes the refused row and puts it back, once.
    fixed = rejected.read_text().replace('"text": "hello"', '"text": "hello", "source": "fixed"')
    rejected.write_text(fixed)
    assert store.reingest(rejected) == 1
    assert store.count_predictions() == 7 and store.rejected_segments() == 1
    again = rejected.with_name("again")
    again.write_text(fixed)
    assert store.reingest(again) == 0  # the same rows: listed already, nothing added
    still_bad = store.spool_dir / "rejected" / "bad"
    still_bad.write_bytes(_line(5, old=True))
    with pytest.raises(StoreError, match="no source"):
        store.reingest(still_bad)
    assert store.count_predictions() == 7
