"""Benchmark of the history store; prints exactly one JSON line.

- backends (always): ingest rate of each store backend through the real spool path:
  ``--rows`` predictions (default 50,000) logged with ``log_predictions`` in batches of
  10,000, then ingested by ``flush()`` (the flush thread's own call), rows/s end to end and of
  the flush alone; the median of ``--repeat`` runs (default 3), the backends taking turns so
  that a burst of load on the shared machine hits each of them. DuckDB (a file in a temporary
  data home) is always measured in the same run, as the baseline; ``ratio_to_duckdb`` is
  each backend's end-to-end rate divided by DuckDB's. ``bytes_per_row``: the history's size
  on disk afterwards (DuckDB: the whole file; PostgreSQL: ``pg_total_relation_size`` of
  ``predictions``, indexes included) divided by the rows (texts of about 45 characters).
- connection (always): what opening the history costs, per open and close of a read-write
  connection, median of ``--opens`` (default 300) taking turns: DuckDB's own
  ``duckdb.connect`` + ``close`` as the store called it before (the baseline) against
  ``Store._open`` + ``Store._close``
  (the same plus the sidecar ``flock`` of ``engine.store.sidecar`` and the back-off loop);
  ``sidecar_us``: the sidecar alone (``acquire`` + ``release``), and ``overhead_pct``.
- with ``--full``, on DuckDB as before issue 16: 1,000,000 predictions logged and flushed
  (target >= 100,000 rows/s); ``log_prediction`` latency on the calling thread while the
  flush thread runs (p50/p99 ms over 20,000 calls; target p99 < 0.2 ms); ``SELECT * FROM
  v_daily_accuracy`` over those 1,000,000 labelled predictions (median of 5; target < 0.5 s).

``--url`` (repeatable) adds a backend: ``postgresql://user@host:port/db`` names a server; the
benchmark creates a database of its own there (``spamops_bench_<pid>_<n>``, so it needs the
CREATEDB right), writes only into it and drops it at the end. ``--url auto-postgres`` starts a
throw-away PostgreSQL of the machine's own binaries (``tests/postgres.py``: Debian package
``postgresql``, a temporary cluster on a loopback port, fsync and synchronous_commit off as
in the tests, so the number is the engine's, not the disk's) and removes it afterwards.
``duckdb`` or ``duckdb:///...`` is the baseline again (always measured anyway).

Usage: ``python scripts/benchmarks/store.py [--url URL]... [--rows N] [--repeat R] [--opens N]
[--full]``.
Nothing outside temporary directories and the benchmark's own databases is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


def full_duckdb() -> dict[str, Any]:
    """The 1,000,000-row DuckDB suite (``--full``)."""
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

    return {
        "rows": ROWS,
        "ingest_rows_per_s": round(ROWS / (log_seconds + flush_seconds)),
        "flush_rows_per_s": round(ROWS / flush_seconds),
        "log_latency_ms_p50": round(latencies[len(latencies) // 2], 4),
        "log_latency_ms_p99": round(latencies[int(len(latencies) * 0.99)], 4),
        "daily_accuracy_query_s": round(statistics.median(timings), 4),
        "days": len(result.rows),
        "targets": {"ingest_rows_per_s": 100_000, "log_latency_ms_p99": 0.2,
                    "daily_accuracy_query_s": 0.5},
    }


def history_bytes(url: str | None, home: Path) -> int:
    """What the history takes on disk: the DuckDB file (checkpointed by ``close()``), or the
    ``predictions`` table with its indexes and TOAST in PostgreSQL."""
    if url is None:
        return (home / "spamops.duckdb").stat().st_size
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as con:
        row = con.execute("SELECT pg_total_relation_size('predictions')").fetchone()
    return int(row[0]) if row else 0


def ingest_once(url: str | None, rows: int, tmp: Path) -> tuple[float, float, int]:
    """Log ``rows`` predictions into a fresh store (``url``: PostgreSQL database; ``None``:
    a DuckDB file under ``tmp``) and flush them; (seconds logging, seconds flushing, bytes
    the history takes afterwards)."""
    home = Path(tempfile.mkdtemp(dir=tmp))
    store = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(),
                  flush_seconds=3600, url=url)
    try:
        store.migrate()
        log_seconds = flush_seconds = 0.0
        for start in range(0, rows, BATCH):
            batch = records(start, min(BATCH, rows - start))
            t = time.perf_counter()
            store.log_predictions(batch)
            log_seconds += time.perf_counter() - t
        t = time.perf_counter()
        store.flush()
        flush_seconds = time.perf_counter() - t
        counted = store.count_predictions()
        if counted != rows:
            raise SystemExit(f"error: {url or 'duckdb'} holds {counted} rows, not {rows}")
    finally:
        store.close()
    return log_seconds, flush_seconds, history_bytes(url, home)


class Backend:
    """One backend to measure: a name, the ``store.url`` of a fresh database per run."""

    def __init__(self, name: str, server_url: str | None) -> None:
        self.name = name
        self.server_url = server_url
        self.databases: list[str] = []

    def fresh(self) -> str | None:
        if self.server_url is None:
            return None
        import psycopg

        dbname = f"spamops_bench_{os.getpid()}_{len(self.databases) + 1}"
        try:
            with psycopg.connect(self.server_url, autocommit=True, connect_timeout=10) as con:
                con.execute(f'CREATE DATABASE "{dbname}"')
        except psycopg.Error as exc:
            message = " ".join(str(exc).split())
            raise SystemExit(f"error: cannot create a database on {self.name}: {message}") \
                from None
        parts = urlsplit(self.server_url)
        url = urlunsplit(parts._replace(path=f"/{dbname}"))
        self.databases.append(url)
        return url

    def drop_all(self) -> None:
        if self.server_url is None:
            return
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=10) as con:
            for url in self.databases:
                dbname = urlsplit(url).path.lstrip("/")
                with contextlib.suppress(psycopg.Error):
                    con.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@contextlib.contextmanager
def backends(urls: list[str]) -> Iterator[list[Backend]]:
    """DuckDB first (the baseline), then one backend per distinct ``--url``; an
    ``auto-postgres`` server is started here and removed on the way out."""
    chosen = [Backend("duckdb", None)]
    servers: list[Any] = []
    try:
        for url in urls:
            if url == "duckdb" or url.startswith("duckdb://"):
                continue
            if url == "auto-postgres":
                from tests.postgres import PostgresServer, PostgresUnavailable

                try:
                    server = PostgresServer()
                    servers.append(server)
                    server.start()
                except PostgresUnavailable as exc:
                    raise SystemExit(f"error: --url auto-postgres: {exc}") from None
                chosen.append(Backend("postgresql", server.url()))
            elif url.startswith(("postgresql://", "postgres://")):
                count = sum(b.name.startswith("postgresql") for b in chosen)
                # Named by position, never by URL: a URL may hold a password.
                chosen.append(Backend("postgresql" if not count else f"postgresql_{count + 1}",
                                      url))
            else:
                raise SystemExit(f"error: --url {url!r}: expected duckdb, auto-postgres or "
                                 "postgresql://user@host:port/db")
        yield chosen
    finally:
        for backend in chosen:
            with contextlib.suppress(Exception):
                backend.drop_all()
        for server in servers:
            server.remove()


def measure_backends(urls: list[str], rows: int, repeat: int) -> dict[str, Any]:
    runs: dict[str, list[tuple[float, float, int]]] = {}
    with backends(urls) as chosen, tempfile.TemporaryDirectory() as tmp_name:
        for _ in range(repeat):
            for backend in chosen:  # taking turns: a burst of load hits every backend
                runs.setdefault(backend.name, []).append(
                    ingest_once(backend.fresh(), rows, Path(tmp_name)))
    result: dict[str, Any] = {}
    for name, timings in runs.items():
        totals = sorted(log + flush for log, flush, _ in timings)
        flushes = sorted(flush for _, flush, _ in timings)
        result[name] = {"ingest_rows_per_s": round(rows / statistics.median(totals)),
                        "flush_rows_per_s": round(rows / statistics.median(flushes)),
                        "runs_rows_per_s": [round(rows / (log + flush))
                                            for log, flush, _ in timings],
                        "bytes_per_row": round(max(size for _, _, size in timings) / rows)}
    baseline = result["duckdb"]["ingest_rows_per_s"]
    for entry in result.values():
        entry["ratio_to_duckdb"] = round(entry["ingest_rows_per_s"] / baseline, 3)
    return result


def measure_connection(opens: int) -> dict[str, Any]:
    """Open-and-close cost of a read-write connection: DuckDB alone, and the store's."""
    import duckdb

    from engine.store import sidecar

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(),
                      recover=False)
        store.migrate()
        plain: list[float] = []
        ours: list[float] = []
        lock: list[float] = []

        def duckdb_alone() -> None:  # the store's call before the sidecar
            duckdb.connect(str(store.db_path), read_only=False, config={}).close()

        def with_sidecar() -> None:
            store._close(store._open(read_only=False))

        for turn in range(opens):  # taking turns, each first every other time
            pair = [(duckdb_alone, plain), (with_sidecar, ours)]
            for action, times in pair if turn % 2 else pair[::-1]:
                started = time.perf_counter()
                action()
                times.append(time.perf_counter() - started)
            started = time.perf_counter()
            if sidecar.acquire(store.db_path, str(store.db_path), shared=False):
                sidecar.release(store.db_path)
            lock.append(time.perf_counter() - started)
        store.close()
    duck, mine = statistics.median(plain) * 1000, statistics.median(ours) * 1000
    return {"opens": opens, "duckdb_connect_close_ms": round(duck, 3),
            "store_open_close_ms": round(mine, 3),
            "sidecar_us": round(statistics.median(lock) * 1e6, 1),
            "overhead_pct": round((mine - duck) / duck * 100, 1)}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", default=[], metavar="URL",
                        help="A backend to measure besides DuckDB: postgresql://..., or "
                             "auto-postgres to start a throw-away server (repeatable).")
    parser.add_argument("--rows", type=int, default=50_000,
                        help="Predictions per backend and run (default 50,000).")
    parser.add_argument("--repeat", type=int, default=3,
                        help="Runs per backend, taking turns; the median is reported.")
    parser.add_argument("--opens", type=int, default=300,
                        help="Connection opens per kind for the connection cost.")
    parser.add_argument("--full", action="store_true",
                        help="Also the 1,000,000-row DuckDB suite (latency, daily query).")
    args = parser.parse_args()
    if args.rows <= 0 or args.repeat <= 0 or args.opens <= 0:
        raise SystemExit("error: --rows, --repeat and --opens must be positive")
    load_before = load_average()
    line: dict[str, Any] = {"benchmark": "store", "rows_per_run": args.rows,
                            "repeat": args.repeat, "cpus": os.cpu_count(),
                            "backends": measure_backends(args.url, args.rows, args.repeat),
                            "connection": measure_connection(args.opens)}
    if args.full:
        line["duckdb_full"] = full_duckdb()
    line["load_average_1_5_15"] = {"before": load_before, "after": load_average()}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
