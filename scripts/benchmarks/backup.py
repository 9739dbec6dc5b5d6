"""Benchmark of backup and retention on a large history; prints exactly one JSON line.

- writer wait: the longest an audit append (a writer) waited while ``Store.copy_database_to``
  ran on ROWS predictions, all labelled (it holds the file only for a checkpoint and a file
  copy), next to the copy's total time and a writer's time with no copy running;
- backup: ``spamops backup`` end to end on that home (copy, verification, checksums);
- prune: ``Store.prune_texts`` replacing every text by its keyed hash (one transaction).

Usage: ``python scripts/benchmarks/backup.py [ROWS]`` (default 1,000,000). Runs on a temporary
data home; nothing else is touched.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.backup import backup_home
from engine.clock import SystemClock
from engine.config import load_settings
from engine.records import FeedbackRecord, PredictionRecord
from engine.store import Store

T0 = datetime(2026, 1, 1)
BATCH = 100_000


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = load_settings(home=home)
        store = Store(settings.db_path, settings.spool_dir, clock=SystemClock(),
                      flush_seconds=3600)
        store.migrate()
        for start in range(0, rows, BATCH):
            n = min(BATCH, rows - start)
            store.log_predictions([
                PredictionRecord(f"p{i:08d}", T0 + timedelta(seconds=2 * i),
                                 f"message number {i} with some ordinary words", 1,
                                 "spam" if i % 7 == 0 else "ham", 0.5, 0.4, "bench")
                for i in range(start, start + n)])
            store.flush()
            store.add_feedback_many([FeedbackRecord(f"p{i:08d}", T0 + timedelta(seconds=2 * i
                                                                                + 60),
                                                    "ham", "bench")
                                     for i in range(start, start + n)])
        size_mb = settings.db_path.stat().st_size / 1e6

        def append_once() -> float:
            t = time.perf_counter()
            store.append_audit("bench", "bench.write", "x", {}, "writer during a copy")
            return time.perf_counter() - t

        idle = max(append_once() for _ in range(20))
        waits: list[float] = []
        done = threading.Event()

        def writer() -> None:
            while not done.is_set():
                waits.append(append_once())

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.2)
        t = time.perf_counter()
        store.copy_database_to(Path(tmp) / "copy.duckdb")
        copy = time.perf_counter() - t
        time.sleep(0.2)
        done.set()
        thread.join()

        t = time.perf_counter()
        report = backup_home(settings, store, Path(tmp) / "backup")
        backup = time.perf_counter() - t

        t = time.perf_counter()
        pruned = store.prune_texts(T0 + timedelta(days=3650), b"k" * 32)
        prune = time.perf_counter() - t
        store.close()
        print(json.dumps({
            "benchmark": "backup", "rows": rows, "history_mb": round(size_mb, 1),
            "copy_seconds": round(copy, 2), "writer_max_wait_seconds": round(max(waits), 3),
            "writer_idle_max_seconds": round(idle, 3), "backup_seconds": round(backup, 2),
            "backup_files": report.files, "prune_seconds": round(prune, 2),
            "pruned": pruned, "prune_rows_per_s": round(pruned / prune),
        }))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
