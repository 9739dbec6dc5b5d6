"""A separate OS process for the store's multi-process tests (run with the venv's python).

    store_worker.py predictions HOME SECONDS PREFIX   log predictions, print each acked id
    store_worker.py decisions HOME SECONDS PREFIX     save decisions + audit records, print ids
    store_worker.py forever HOME PREFIX               log predictions until killed
    store_worker.py check HOME SECONDS                what an isolated check child does to the
                                                      store: open it read-write (migrations,
                                                      spool recovery), then a session of writes
                                                      and reads, suspended once, for SECONDS

Every id is printed only after the store call returned, so a printed id is acknowledged.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from engine.clock import SystemClock
from engine.records import Decision, PredictionRecord
from engine.store import Store


def _store(home: Path, flush_seconds: float) -> Store:
    # SPAMOPS_STORE__URL=postgresql://... : the same work on the shared PostgreSQL history.
    return Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(),
                 flush_seconds=flush_seconds, url=os.environ.get("SPAMOPS_STORE__URL"))


def _prediction(store: Store, prefix: str, i: int) -> PredictionRecord:
    return PredictionRecord(id=f"{prefix}-{i}", ts=store.clock.now(), text=f"msg {i}",
                            model_version=1, label="spam" if i % 3 == 0 else "ham",
                            spam_probability=0.5, latency_ms=0.1, source="e2e")


def log_predictions(home: Path, seconds: float, prefix: str) -> None:
    store = _store(home, 0.2)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        batch = [_prediction(store, prefix, i + k) for k in range(1 + i % 7)]
        store.log_predictions(batch)
        for record in batch:
            print(record.id)
        i += len(batch)
        time.sleep(0.002)
    sys.stdout.flush()
    store.close()


def save_decisions(home: Path, seconds: float, prefix: str) -> None:
    store = _store(home, 0.2)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        now = store.clock.now()
        decision = Decision(
            id=f"{prefix}-{i}", ts=now + timedelta(microseconds=i), trigger="schedule",
            decision="NO_ACTION", reasons=("e2e",), window_size=10, accuracy=None,
            accuracy_is_estimate=True, accuracy_low=None, accuracy_high=None, n_labels=0,
            drift_score=0.01, thresholds={"drift": 0.15}, champion_version=1, snapshot_id=None)
        store.save_decision(decision)
        store.append_audit("scheduler", "decision", decision.id, {"i": i}, "e2e")
        print(decision.id, flush=True)
        i += 1
        time.sleep(0.01)
    store.close()


def forever(home: Path, prefix: str) -> None:
    store = _store(home, 0.1)
    i = 0
    while True:
        store.log_prediction(_prediction(store, prefix, i))
        print(f"{prefix}-{i}", flush=True)
        i += 1
        time.sleep(0.0005)


def check_child(home: Path, seconds: float) -> None:
    store = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(), recover=False)
    store.migrate()  # as Services.store does in the child: recovers dead processes' segments
    with store.session():
        after = store.last_window_seq()
        store.window_after(after, limit=5000)
        with store.suspend_session():  # as a detector build does
            time.sleep(seconds / 2)
        now = store.clock.now()
        store.save_decision(Decision(
            id=f"check-{os.getpid()}-{time.monotonic_ns()}", ts=now, trigger="schedule",
            decision="NO_ACTION", reasons=("e2e",), window_size=10, accuracy=None,
            accuracy_is_estimate=True, accuracy_low=None, accuracy_high=None, n_labels=0,
            drift_score=0.01, thresholds={"drift": 0.15}, champion_version=1, snapshot_id=None))
        time.sleep(seconds / 2)
    store.close()


if __name__ == "__main__":
    mode, home = sys.argv[1], Path(sys.argv[2])
    if mode == "predictions":
        log_predictions(home, float(sys.argv[3]), sys.argv[4])
    elif mode == "decisions":
        save_decisions(home, float(sys.argv[3]), sys.argv[4])
    elif mode == "check":
        check_child(home, float(sys.argv[3]))
    elif mode == "forever":
        forever(home, sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")
