"""``Store.reading()``: the reads of one block share one read-only connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.errors import StoreError
from engine.store import Store


@pytest.fixture
def sut(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "spamops.duckdb", tmp_path / "spool",
                  clock=SimulatedClock(datetime(2026, 11, 2, 8)), flush_seconds=60)
    store.migrate()
    yield store
    store.close()


def test_reads_in_a_block_open_one_connection(sut: Store) -> None:
    before = sut.connections_opened
    sut.decisions(5)
    sut.approvals("pending")
    assert sut.connections_opened - before == 2
    before = sut.connections_opened
    with sut.reading():
        sut.decisions(5)
        sut.approvals("pending")
        sut.receiver_health()
        with sut.reading():  # nested: the same connection
            sut.latest_snapshot()
    assert sut.connections_opened - before == 1


def test_a_write_inside_a_block_is_refused_and_the_block_ends_clean(sut: Store) -> None:
    with pytest.raises(StoreError, match="write inside"), sut.reading():
        sut.append_audit("op", "test", "x", {}, "")
    sut.append_audit("op", "test", "x", {}, "")  # outside: writes as usual
    assert len(sut.audit_records(5)) == 1


def test_another_thread_waits_for_the_block(sut: Store) -> None:
    order: list[str] = []
    inside = threading.Event()

    def other() -> None:
        inside.wait()
        sut.append_audit("op", "test", "x", {}, "")  # a write: must not see the session
        order.append("other wrote")

    thread = threading.Thread(target=other)
    thread.start()
    with sut.reading():
        inside.set()
        thread.join(timeout=0.3)
        order.append("block read")
        sut.decisions(5)
    thread.join(timeout=10)
    assert order == ["block read", "other wrote"]
