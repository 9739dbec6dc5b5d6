"""Benchmark of the history store; prints exactly one JSON line.

- ingest: 1,000,000 predictions logged in batches of 10,000 and flushed from the spool into
  DuckDB (rows/s end to end, and of the flush alone); target >= 100,000 rows/s.
- log latency: time one ``log_prediction`` call takes on the calling thread while the flush
  thread runs (p50/p99 ms over 20,000 calls); target p99 < 0.2 ms.
- daily accuracy: ``SELECT * FROM v_daily_accuracy`` over those 1,000,000 predictions, each
  with feedback, through ``Store.sql`` (connection open included; median of 5); target < 0.5 s.

Runs on a temporary data home; nothing else is touched.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.clock import SystemClock
from engine.records import FeedbackRecord, PredictionRecord
from engine.store import Store

ROWS = 1_000_000
BATCH = 10_000
LATENCY_CALLS = 20_000
T0 = datetime(2026, 10, 1)


def records(start: int, n: int) -> list[PredictionRecord]:
    return [PredictionRecord(id=f"p{i:08d}", ts=T0 + timedelta(seconds=2.5 * i),
                             text=f"message number {i} with some ordinary words",
                             model_version=1, label="spam" if i % 7 == 0 else "ham",
                             spam_probability=0.9 if i % 7 == 0 else 0.1, latency_ms=0.4,
                             source="bench")
            for i in range(start, start + n)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(),
                      flush_seconds=3600)
        store.migrate()

        log_seconds = flush_seconds = 0.0
        for start in range(0, ROWS, BATCH):
            batch = records(start, BATCH)
            t = time.perf_counter()
            store.log_predictions(batch)
            log_seconds += time.perf_counter() - t
            if (start // BATCH) % 10 == 9:  # ingest every 100,000 rows, as the thread would
                t = time.perf_counter()
                store.flush()
                flush_seconds += time.perf_counter() - t
        t = time.perf_counter()
        store.flush()
        flush_seconds += time.perf_counter() - t
        assert store.count_predictions() == ROWS

        labels = [FeedbackRecord(f"p{i:08d}", T0 + timedelta(seconds=2.5 * i + 60),
                                 "spam" if i % 5 == 0 else "ham", "bench")
                  for i in range(ROWS)]
        store.add_feedback_many(labels)
        timings = []
        for _ in range(5):
            t = time.perf_counter()
            result = store.sql("SELECT * FROM v_daily_accuracy")
            timings.append(time.perf_counter() - t)
        assert sum(int(r[1]) for r in result.rows) == ROWS
        store.close()

        live = Store(home / "live.duckdb", home / "spool-live", clock=SystemClock(),
                     flush_seconds=0.5)
        live.migrate()
        sample = records(ROWS, LATENCY_CALLS)
        latencies = []
        for record in sample:
            t = time.perf_counter_ns()
            live.log_prediction(record)
            latencies.append((time.perf_counter_ns() - t) / 1e6)
        live.close()
        latencies.sort()

    print(json.dumps({
        "benchmark": "store",
        "rows": ROWS,
        "ingest_rows_per_s": round(ROWS / (log_seconds + flush_seconds)),
        "flush_rows_per_s": round(ROWS / flush_seconds),
        "log_latency_ms_p50": round(latencies[len(latencies) // 2], 4),
        "log_latency_ms_p99": round(latencies[int(len(latencies) * 0.99)], 4),
        "daily_accuracy_query_s": round(statistics.median(timings), 4),
        "days": len(result.rows),
        "targets": {"ingest_rows_per_s": 100_000, "log_latency_ms_p99": 0.2,
                    "daily_accuracy_query_s": 0.5},
    }))


if __name__ == "__main__":
    main()
