"""``Store.session``: one held connection for a burst of store calls, same results as without.

The counting wrapper below calls DuckDB's real ``connect``; it only counts how often the file
is opened, which is the cost a session saves.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.errors import NotFound, StoreError
from engine.records import FeedbackRecord, PredictionRecord
from engine.store import Store

T0 = datetime(2026, 11, 2, 8, 0, 0)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    sut = Store(tmp_path / "spamops.duckdb", tmp_path / "spool", clock=SimulatedClock(T0),
                flush_seconds=0.05)
    sut.migrate()
    yield sut
    sut.close()


@pytest.fixture
def opens(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each open of the database file by ``store``: its read_only flag."""
    seen: list[bool] = []
    real = Store._open

    def counting(self: Store, read_only: bool, config: dict[str, object] | None = None
                 ) -> object:
        seen.append(read_only)
        return real(self, read_only, config)

    monkeypatch.setattr(Store, "_open", counting)
    return seen


def _predictions(n: int) -> list[PredictionRecord]:
    return [PredictionRecord(id=f"p{i:04d}", ts=T0 + timedelta(minutes=i), text=f"text {i}",
                             model_version=1, label="ham", spam_probability=0.1,
                             latency_ms=0.1, source="test") for i in range(n)]


def test_a_session_opens_the_file_once_for_many_calls(store: Store, opens: list[bool]) -> None:
    store.log_predictions(_predictions(50))
    with store.session():
        assert store.count_predictions() == 50  # flushes the spool first: a write
        store.add_feedback_many([FeedbackRecord("p0001", T0 + timedelta(hours=1), "spam",
                                                "test")])
        window, head = store.window_after(0)
        assert len(window) == 50 and head == 50
        assert store.last_window_seq() == 0
    assert opens == [False]
    # Outside a session every call opens the file again, and sees what the session committed.
    assert store.labelled_between(None, None)["true_label"].tolist() == ["spam"]
    assert len(opens) == 2


def test_a_failed_transaction_in_a_session_rolls_back_and_the_session_goes_on(
        store: Store) -> None:
    store.log_predictions(_predictions(3))
    with store.session():
        with pytest.raises(NotFound):  # all or nothing: p9999 is unknown
            store.add_feedback_many([
                FeedbackRecord("p0000", T0, "spam", "test"),
                FeedbackRecord("p9999", T0, "spam", "test")])
        assert store.labelled_between(None, None).empty
        store.add_feedback_many([FeedbackRecord("p0002", T0, "spam", "test")])
    assert store.labelled_between(None, None)["id"].tolist() == ["p0002"]


def test_sessions_nest_and_an_analyst_query_is_refused_inside_one(store: Store,
                                                                  opens: list[bool]) -> None:
    with store.session(), store.session():
        assert store.count_predictions() == 0
        with pytest.raises(StoreError, match="inside a store session"):
            store.sql("SELECT 1")
    assert opens == [False]
    assert store.sql("SELECT 42").rows == [(42,)]


def test_the_flush_thread_waits_for_the_session_without_deadlock(store: Store) -> None:
    """The flush thread takes the flush lock, then a connection; a session takes them in the
    same order, so a flush inside the session and the thread's own never wait on each other."""
    done = threading.Event()

    def burst() -> None:
        for round_ in range(20):
            store.log_predictions(_predictions(200)[round_ * 10:round_ * 10 + 10])
            with store.session():
                store.count_predictions()
        done.set()

    worker = threading.Thread(target=burst, daemon=True)
    worker.start()
    assert done.wait(60), "the session and the flush thread deadlocked"
    worker.join()
    assert store.count_predictions() == 200


def test_another_process_waits_for_the_session_and_gets_the_file_while_it_is_suspended(
        store: Store, tmp_path: Path, opens: list[bool]) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from datetime import datetime
        sys.path.insert(0, {str(REPO)!r})
        from engine.clock import SimulatedClock
        from engine.store import Store
        store = Store({str(store.db_path)!r}, {str(tmp_path / "spool2")!r},
                      clock=SimulatedClock(datetime(2026, 1, 1)), read_only=True,
                      busy_timeout=30)
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        print(store.count_predictions(), round(time.monotonic() - started, 1), flush=True)
    """)
    store.log_predictions(_predictions(5))
    reader = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "ready"
        with store.session():
            assert store.count_predictions() == 5
            reader.stdin.write("go\n")
            reader.stdin.flush()
            with pytest.raises(subprocess.TimeoutExpired):  # still waiting for the file
                reader.wait(timeout=1.5)
            with store.suspend_session():  # a retrain's minutes: the file is free
                count, waited = reader.stdout.readline().split()
                assert int(count) == 5 and float(waited) >= 1.0
                assert reader.wait(timeout=60) == 0
                store.log_predictions(_predictions(8)[5:])
                assert store.count_predictions() == 8  # on a connection of its own
                assert True in opens  # (the read opened the file read-only)
            reopened = len(opens)
            assert store.labelled_between(None, None).empty  # the session's, reopened
            assert store.count_predictions() == 8
            assert len(opens) == reopened and opens[-1] is False
    finally:
        reader.kill()
        reader.wait()
