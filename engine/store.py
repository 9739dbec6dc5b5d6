"""The only way in to DuckDB: connections, migrations, the prediction spool, typed reads.

Owns the history file (``settings.db_path``) and the spool directory (``settings.spool_dir``).
No other module opens a DuckDB connection; callers get frozen records from
``engine.records`` or pandas frames with documented columns, never a connection or a cursor.

How several processes share one file (DuckDB lets one process hold it read-write, and then
refuses every other open at once): no connection is held between operations. Each operation
opens a short-lived connection (read-write for writes, read-only for reads) under one
per-process lock, and retries the open with jittered exponential back-off for up to
``busy_timeout`` seconds before raising ``StoreBusy``. Prediction logging never touches DuckDB
on the caller's thread: it appends JSON lines to a spool segment that a background thread
ingests, exactly once, in batches. The design and its limits are in ``docs/architecture.md``
("The store").

This module must not know about models, drift or rules, and must not hold a connection open
beyond one operation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import io
import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from engine import audit
from engine.clock import Clock
from engine.errors import InvalidInput, NotFound, QueryError, StoreBusy, StoreError
from engine.records import (
    Approval,
    AuditRecord,
    AuditVerification,
    DailyAccuracy,
    DailyTraffic,
    Decision,
    DriftSnapshot,
    FeedbackRecord,
    JobRun,
    PatternCount,
    PredictionRecord,
    QueryResult,
    RetrainingEvent,
)

logger = logging.getLogger("spamops.store")

LABELS = ("ham", "spam")
"""The only labels a prediction or a feedback may carry."""

SEGMENT_SUFFIX = ".jsonl"
"""Spool segments ready to be ingested (or being written) end in this suffix."""

ORPHAN_SCAN_SECONDS = 30.0
"""How often the flush thread looks for segments left behind by dead processes."""

_MAX_BACKOFF = 0.1
"""Longest single wait between two open attempts: short, so a freed file is taken quickly."""

_PROCESS_LOCK = threading.RLock()
"""One connection at a time per process: DuckDB refuses a read-only and a read-write
connection to the same file within one process, and this also keeps every connection short."""

_READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
"""Statement types ``sql`` accepts (SELECT covers WITH, FROM-first, DESCRIBE, SHOW, SUMMARIZE)."""

_PREDICTION_COLUMNS = ("id", "ts", "text", "model_version", "label", "spam_probability",
                       "latency_ms", "source")
_SPOOL_SCHEMA = pa.schema([
    ("id", pa.string()), ("ts", pa.timestamp("us")), ("text", pa.string()),
    ("model_version", pa.int32()), ("label", pa.string()), ("spam_probability", pa.float64()),
    ("latency_ms", pa.float64()), ("source", pa.string()),
])

_EXPORT_TABLES = {
    "predictions": "ts", "feedback": "ts", "drift_snapshots": "ts", "decisions": "ts",
    "retraining_events": "started_at", "approvals": "created_at", "job_runs": "started_at",
    "model_versions": "registered_at", "audit_log": "ts",
}
"""History tables written by ``export_parquet`` and the timestamp each is partitioned by."""

R = TypeVar("R")


# Errors ------------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    """DuckDB's message without the ``LINE 1: ...`` excerpt and caret, on one line."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [line for line in lines if line and not line.startswith("LINE ")
            and set(line) != {"^"}]
    return " ".join(kept) or type(exc).__name__


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    message = str(exc)
    return ("Could not set lock" in message or "Conflicting lock" in message
            or "different configuration" in message)


def _holder(exc: BaseException) -> str:
    match = re.search(r"\(PID (\d+)\)", str(exc))
    return f" (held by PID {match.group(1)})" if match else ""


# Spool -------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Segment:
    """A spool file this process owns: it holds an exclusive flock on it until it is gone."""

    path: Path
    fd: int
    rows: int = 0


class _Spool:
    """This process's append-only segments under ``spool_dir``.

    The open segment receives every logged record with one ``os.write`` per call (so the OS
    has it when the call returns; a SIGKILL cannot lose it). ``rotate`` closes it for
    ingestion and keeps its flock, so no other process treats it as an orphan.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = 0
        self._current: _Segment | None = None
        self._closed: list[_Segment] = []

    def _open_segment(self) -> _Segment:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{self._token}-{self._seq:06d}"
        # Create under a name recovery ignores, lock, then rename: a segment is never visible
        # to other processes without its lock.
        temporary = self.directory / f".{name}.new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = self.directory / f"{name}{SEGMENT_SUFFIX}"
        os.rename(temporary, path)
        return _Segment(path, fd)

    def append(self, data: bytes, rows: int) -> None:
        """Write whole lines to the open segment (opening one if needed)."""
        with self._lock:
            if self._current is None:
                self._current = self._open_segment()
            view = memoryview(data)
            while view:
                written = os.write(self._current.fd, view)
                view = view[written:]
            self._current.rows += rows

    def pending_rows(self) -> int:
        """Rows written but not yet handed over to ingestion or ingested."""
        with self._lock:
            current = self._current.rows if self._current else 0
            return current + sum(s.rows for s in self._closed)

    def rotate(self) -> list[_Segment]:
        """Close the open segment (if it has rows) and return every closed, owned segment."""
        with self._lock:
            if self._current is not None and self._current.rows > 0:
                self._closed.append(self._current)
                self._current = None
            return list(self._closed)

    def owned_names(self) -> set[str]:
        """Names of the segments this process holds."""
        with self._lock:
            owned = {s.path.name for s in self._closed}
            if self._current is not None:
                owned.add(self._current.path.name)
            return owned

    def done(self, segments: Iterable[_Segment]) -> None:
        """Delete ingested segments and release their locks."""
        finished = list(segments)
        with self._lock:
            self._closed = [s for s in self._closed if s not in finished]
        for segment in finished:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            os.close(segment.fd)

    def release(self) -> None:
        """Drop every lock; files with rows stay for the next start to recover."""
        with self._lock:
            segments = self._closed + ([self._current] if self._current else [])
            self._closed, self._current = [], None
        for segment in segments:
            if segment.rows == 0:
                with contextlib.suppress(FileNotFoundError):
                    segment.path.unlink()
            os.close(segment.fd)


_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False)
"""Built once: ``json.dumps`` with options builds a new encoder per call (~2 µs)."""


def _encode(record: PredictionRecord) -> bytes:
    return (_ENCODER.encode({
        "id": record.id, "ts": record.ts.isoformat(), "text": record.text,
        "model_version": record.model_version, "label": record.label,
        "spam_probability": record.spam_probability, "latency_ms": record.latency_ms,
        "source": record.source,
    }) + "\n").encode("utf-8")


def read_segment(path: Path) -> pa.Table:
    """The acknowledged records of a spool segment as an Arrow table.

    A last line without its newline was cut short by a crash while being written, so the
    caller was never told it was logged: it is skipped with a warning, as is any line that is
    not valid JSON.
    """
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning("spool segment %s ends with a truncated record (%d bytes): skipped",
                       path.name, len(data) - end)
        data = data[:end]
    if not data:
        return _SPOOL_SCHEMA.empty_table()
    options = pa_json.ParseOptions(explicit_schema=_SPOOL_SCHEMA,
                                   unexpected_field_behavior="ignore")
    try:
        return pa_json.read_json(io.BytesIO(data), parse_options=options)
    except pa.ArrowInvalid:
        return _read_segment_lines(path, data, options)


def _read_segment_lines(path: Path, data: bytes, options: pa_json.ParseOptions) -> pa.Table:
    tables = []
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            tables.append(pa_json.read_json(io.BytesIO(line), parse_options=options))
        except pa.ArrowInvalid:
            logger.warning("spool segment %s line %d is not a valid record: skipped",
                           path.name, number)
    return pa.concat_tables(tables) if tables else _SPOOL_SCHEMA.empty_table()


# Row mapping -------------------------------------------------------------------------------
def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _row_of(record: Any, json_fields: Sequence[str] = ()) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    for name in json_fields:
        value = row[name]
        if value is not None:
            row[name] = _dumps(_plain(value))
    return row


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _decode_snapshot(row: dict[str, Any]) -> DriftSnapshot:
    row["new_patterns"] = tuple(PatternCount(**p) for p in json.loads(row["new_patterns"]))
    return DriftSnapshot(**row)


def _decode_decision(row: dict[str, Any]) -> Decision:
    row["reasons"] = tuple(json.loads(row["reasons"]))
    row["thresholds"] = json.loads(row["thresholds"])
    return Decision(**row)


def _decode_retraining(row: dict[str, Any]) -> RetrainingEvent:
    row["comparison"] = None if row["comparison"] is None else json.loads(row["comparison"])
    row["lineage"] = json.loads(row["lineage"])
    return RetrainingEvent(**row)


def _decode_approval(row: dict[str, Any]) -> Approval:
    row["comparison"] = json.loads(row["comparison"])
    return Approval(**row)


def _decode_job_run(row: dict[str, Any]) -> JobRun:
    return JobRun(**row)


def _decode_audit(row: dict[str, Any]) -> AuditRecord:
    row["details"] = json.loads(row["details"])
    return AuditRecord(**row)


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def migrations() -> list[tuple[int, str, str]]:
    """The numbered migration files shipped in ``engine/sql``: (version, name, sql)."""
    found = []
    for entry in resources.files("engine").joinpath("sql").iterdir():
        match = re.fullmatch(r"(\d{3})_(\w+)\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(version for version, _, _ in migrations())
"""The schema version this code expects (the highest migration shipped)."""


class Store:
    """The history of one data home: predictions, feedback, snapshots, decisions, audit...

    Args:
        db_path: the DuckDB file.
        spool_dir: where logged predictions wait for ingestion.
        clock: the source of "now" for timestamps the store sets itself.
        read_only: a reader (dashboard, analyst) never writes, never migrates and never
            starts the flush thread; it needs an existing database.
        flush_seconds: how often the flush thread ingests the spool.
        busy_timeout: how long an operation waits for another process to release the file
            before raising ``StoreBusy``.
    """

    def __init__(self, db_path: Path, spool_dir: Path, *, clock: Clock,
                 read_only: bool = False, flush_seconds: float = 0.5,
                 busy_timeout: float = 30.0) -> None:
        self.db_path = Path(db_path)
        self.spool_dir = Path(spool_dir)
        self.clock = clock
        self.read_only = read_only
        self.flush_seconds = flush_seconds
        self.busy_timeout = busy_timeout
        self._spool = _Spool(self.spool_dir)
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._last_orphan_scan = 0.0
        self._closed = False
        if read_only:
            self._require_database()
        elif self.db_path.exists() and self._orphan_candidates():
            try:
                self.recover_spool()
            except StoreError as exc:
                logger.warning("spool recovery deferred: %s", exc)

    # Connections ---------------------------------------------------------------------------
    def _require_database(self) -> None:
        if not self.db_path.exists():
            raise StoreError(f"no database at {self.db_path}: run `spamops setup-database` "
                             "first")

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.002
        while True:
            try:
                return duckdb.connect(str(self.db_path), read_only=read_only)
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc):
                    raise StoreError(f"cannot open {self.db_path}: {_one_line(exc)}") from None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreBusy(
                        f"the database {self.db_path} stayed locked by another process"
                        f"{_holder(exc)} for {self.busy_timeout:g} s; try again, or stop "
                        "the process that holds it") from None
                time.sleep(min(delay * random.uniform(0.5, 1.5), remaining))
                delay = min(delay * 2, _MAX_BACKOFF)

    @contextlib.contextmanager
    def _connection(self, *, write: bool,
                    create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; DuckDB errors inside become one-line ``StoreError``."""
        if write and self.read_only:
            raise StoreError("this store was opened read-only")
        if not create:
            self._require_database()
        with _PROCESS_LOCK:
            con = self._open(read_only=not write)
            try:
                yield con
            except duckdb.Error as exc:
                raise StoreError(f"store operation failed: {_one_line(exc)}") from None
            finally:
                con.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._connection(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _records(self, sql: str, params: Sequence[Any],
                 decode: Callable[[dict[str, Any]], R]) -> list[R]:
        with self._connection(write=False) as con:
            cursor = con.execute(sql, list(params))
            columns = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchall()
        return [decode(dict(zip(columns, row, strict=True))) for row in rows]

    def _upsert(self, table: str, row: dict[str, Any]) -> None:
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._transaction() as con:
            con.execute(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})",
                        list(row.values()))

    # Schema --------------------------------------------------------------------------------
    def migrate(self) -> int:
        """Create or upgrade the schema (idempotent), recover orphan spool segments.

        Returns:
            The schema version now in place.
        """
        if self.read_only:
            raise StoreError("a read-only store cannot migrate: run `spamops setup-database`")
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection(write=True, create=True) as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY "
                        "KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
            row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            current = int(row[0]) if row else 0
            for version, name, sql in migrations():
                if version <= current:
                    continue
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(sql)
                    con.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                                [version, name, self.clock.now()])
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
                logger.info("applied migration %s", name)
                current = version
        self.recover_spool()
        return current

    def schema_version(self) -> int:
        """The schema version of the database file (0 before the first migration)."""
        with self._connection(write=False) as con:
            exists = con.execute("SELECT count(*) FROM duckdb_tables() "
                                 "WHERE table_name = 'schema_version'").fetchone()
            if not exists or not exists[0]:
                return 0
            row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    # Prediction logging --------------------------------------------------------------------
    def log_prediction(self, rec: PredictionRecord) -> None:
        """Append one prediction to the spool; it is in the OS when this returns."""
        self._append(_encode(rec), 1)

    def log_predictions(self, recs: Iterable[PredictionRecord]) -> None:
        """Append many predictions to the spool with one write."""
        lines = [_encode(r) for r in recs]
        if lines:
            self._append(b"".join(lines), len(lines))

    def _append(self, data: bytes, rows: int) -> None:
        if self.read_only:
            raise StoreError("this store was opened read-only and cannot log predictions")
        if self._closed:
            raise StoreError("the store is closed")
        self._spool.append(data, rows)
        if self._thread is None:
            self._start_thread()

    def _start_thread(self) -> None:
        with self._thread_lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run_flusher, name="spamops-spool",
                                            daemon=True)
            self._thread.start()

    def _run_flusher(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
                if time.monotonic() - self._last_orphan_scan >= ORPHAN_SCAN_SECONDS:
                    self.recover_spool()
            except Exception as exc:  # keep logging alive; segments stay for the next tick
                logger.warning("spool flush failed, will retry: %s", exc)

    def flush(self) -> int:
        """Ingest everything this process has logged so far.

        Returns:
            Rows newly added to the store.
        """
        if self.read_only:
            return 0
        with self._flush_lock:
            segments = self._spool.rotate()
            if not segments:
                return 0
            added = self._ingest([(s.path, read_segment(s.path)) for s in segments])
            self._spool.done(segments)
            return added

    def _flush_if_pending(self) -> None:
        if not self.read_only and not self._closed and self._spool.pending_rows():
            self.flush()

    def _ingest(self, segments: Sequence[tuple[Path, pa.Table]]) -> int:
        """Insert segments not yet listed in ``spool_segments``, with their rows there, in one
        transaction: re-ingesting after a crash never duplicates a row."""
        names = [path.name for path, _ in segments]
        with self._transaction() as con:
            listed = {row[0] for row in con.execute(
                "SELECT name FROM spool_segments WHERE list_contains(?, name)",
                [names]).fetchall()}
            fresh = [(path, table) for path, table in segments if path.name not in listed]
            if not fresh:
                return 0
            incoming = pa.concat_tables([table for _, table in fresh])
            if incoming.num_rows:
                con.register("incoming_predictions", incoming)
                columns = ", ".join(_PREDICTION_COLUMNS)
                con.execute(f"INSERT INTO predictions ({columns}) SELECT {columns} "
                            "FROM incoming_predictions")
                con.unregister("incoming_predictions")
            now = self.clock.now()
            ledger = pd.DataFrame({"name": [p.name for p, _ in fresh],
                                   "ingested_at": [now] * len(fresh),
                                   "rows": [t.num_rows for _, t in fresh]})
            con.register("incoming_segments", ledger)
            con.execute("INSERT INTO spool_segments SELECT name, ingested_at, rows "
                        "FROM incoming_segments")
            con.unregister("incoming_segments")
            return int(incoming.num_rows)

    def _orphan_candidates(self) -> list[Path]:
        if not self.spool_dir.is_dir():
            return []
        owned = self._spool.owned_names()
        return sorted(p for p in self.spool_dir.glob(f"*{SEGMENT_SUFFIX}")
                      if p.name not in owned)

    def recover_spool(self) -> int:
        """Ingest segments left by processes that died (those whose flock can be taken).

        Returns:
            Rows newly added to the store.
        """
        if self.read_only:
            return 0
        self._last_orphan_scan = time.monotonic()
        held: list[tuple[Path, int]] = []
        try:
            for path in self._orphan_candidates():
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue  # ingested by its owner or another recovery meanwhile
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)  # a live process is writing or ingesting it
                    continue
                held.append((path, fd))
            if not held:
                return 0
            added = self._ingest([(path, read_segment(path)) for path, _ in held])
            for path, _ in held:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if added:
                logger.warning("recovered %d logged predictions from %d orphan spool "
                               "segments", added, len(held))
            return added
        finally:
            for _, fd in held:
                os.close(fd)

    def close(self) -> None:
        """Stop the flush thread and ingest what is left; idempotent.

        If the database stays busy, the segments are left on disk, unlocked, and the next
        read-write store on this data home recovers them.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            if not self.read_only:
                self.flush()
        except StoreError as exc:
            logger.warning("could not ingest the spool at close, it will be recovered on the "
                           "next start: %s", exc)
        finally:
            self._spool.release()

    # Predictions and feedback --------------------------------------------------------------
    def count_predictions(self) -> int:
        """Rows in ``predictions`` (after ingesting this process's spool)."""
        self._flush_if_pending()
        with self._connection(write=False) as con:
            row = con.execute("SELECT count(*) FROM predictions").fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _window(column: str, since: datetime | None, until: datetime | None, *,
                by_day: bool = False) -> tuple[str, list[Any]]:
        """A ``WHERE`` clause: ``since <= column < until``; ``by_day`` compares whole days,
        ``day(since) <= column <= day(until)`` (for the daily aggregates)."""
        bound, upper = ("CAST(? AS DATE)", "<=") if by_day else ("?", "<")
        clauses, params = [], []
        if since is not None:
            clauses.append(f"{column} >= {bound}")
            params.append(since)
        if until is not None:
            clauses.append(f"{column} {upper} {bound}")
            params.append(until)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def predictions_between(self, since: datetime | None, until: datetime | None,
                            limit: int | None = None) -> pd.DataFrame:
        """Predictions with ``since <= ts < until``, ordered by ts; the newest ``limit`` only.

        Columns: id, ts, text, model_version, label, spam_probability, source.
        """
        self._flush_if_pending()
        where, params = self._window("ts", since, until)
        sql = (f"SELECT id, ts, text, model_version, label, spam_probability, source "
               f"FROM predictions{where}")
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY ts DESC LIMIT {int(limit)})"
        return self.query_frame(sql + " ORDER BY ts", params)

    def labelled_between(self, since: datetime | None,
                         until: datetime | None) -> pd.DataFrame:
        """Predictions in the window that have feedback, with the latest true label.

        Columns: id, ts, text, label (predicted), spam_probability, model_version, true_label.
        """
        self._flush_if_pending()
        where, params = self._window("ts", since, until)
        where = (where + " AND" if where else " WHERE") + " true_label IS NOT NULL"
        return self.query_frame(
            "SELECT id, ts, text, label, spam_probability, model_version, true_label "
            f"FROM predictions{where} ORDER BY ts", params)

    def labels_received_between(self, since: datetime | None,
                                until: datetime | None) -> pd.DataFrame:
        """Labelled predictions whose latest label arrived with ``since <= labelled_at < until``.

        Columns: id, ts, text, label (predicted), spam_probability, model_version, true_label,
        labelled_at; ordered by labelled_at.
        """
        self._flush_if_pending()
        where, params = self._window("labelled_at", since, until)
        where = (where + " AND" if where else " WHERE") + " true_label IS NOT NULL"
        return self.query_frame(
            "SELECT id, ts, text, label, spam_probability, model_version, true_label, "
            f"labelled_at FROM predictions{where} ORDER BY labelled_at, ts", params)

    def add_feedback(self, prediction_id: str, label: str, source: str,
                     ts: datetime | None = None) -> FeedbackRecord:
        """Record the true label of a logged prediction (the latest one counts).

        Raises:
            InvalidInput: the label is not ham or spam.
            NotFound: no such prediction has reached the store.
        """
        label = _check_label(label)
        record = FeedbackRecord(prediction_id, ts or self.clock.now(), label, source)
        self._flush_if_pending()
        with self._transaction() as con:
            found = con.execute("SELECT count(*) FROM predictions WHERE id = ?",
                                [prediction_id]).fetchone()
            if not found or not found[0]:
                raise NotFound(f"unknown prediction id {prediction_id!r} (a prediction "
                               "reaches the store within a second of being answered)")
            con.execute("INSERT INTO feedback (prediction_id, ts, label, source) "
                        "VALUES (?, ?, ?, ?)", [record.prediction_id, record.ts,
                                                record.label, record.source])
            # Feedback is written in id order, so on equal times the newer one wins.
            con.execute("UPDATE predictions SET true_label = ?, labelled_at = ? WHERE id = ? "
                        "AND (labelled_at IS NULL OR labelled_at <= ?)",
                        [record.label, record.ts, record.prediction_id, record.ts])
        return record

    def add_feedback_many(self, records: Sequence[FeedbackRecord]) -> int:
        """Record many true labels at once; every prediction id must exist.

        Returns:
            Feedback rows added.
        """
        if not records:
            return 0
        for r in records:
            _check_label(r.label)
        self._flush_if_pending()
        frame = pd.DataFrame({
            "prediction_id": [r.prediction_id for r in records],
            "ts": pd.to_datetime([r.ts for r in records]),
            "label": [r.label for r in records], "source": [r.source for r in records]})
        with self._transaction() as con:
            con.register("incoming_feedback", frame)
            missing = con.execute(
                "SELECT i.prediction_id FROM incoming_feedback AS i ANTI JOIN predictions AS p "
                "ON p.id = i.prediction_id LIMIT 1").fetchone()
            if missing:
                raise NotFound(f"unknown prediction id {missing[0]!r}: no feedback recorded")
            con.execute("INSERT INTO feedback (prediction_id, ts, label, source) "
                        "SELECT prediction_id, ts, label, source FROM incoming_feedback")
            con.execute(
                "UPDATE predictions AS p SET true_label = l.label, labelled_at = l.ts FROM ("
                " SELECT prediction_id, arg_max(label, (ts, n)) AS label, max(ts) AS ts"
                " FROM (SELECT *, row_number() OVER () AS n FROM incoming_feedback)"
                " GROUP BY prediction_id) AS l "
                "WHERE p.id = l.prediction_id AND (p.labelled_at IS NULL OR p.labelled_at <= l.ts)")
            con.unregister("incoming_feedback")
        return len(records)

    # Drift snapshots -----------------------------------------------------------------------
    def save_snapshot(self, snapshot: DriftSnapshot) -> None:
        """Insert (or replace, by id) a drift snapshot."""
        self._upsert("drift_snapshots", _row_of(snapshot, ("new_patterns",)))

    def snapshots(self, limit: int = 100, since: datetime | None = None,
                  until: datetime | None = None) -> list[DriftSnapshot]:
        """Drift snapshots in the window, newest first."""
        where, params = self._window("ts", since, until)
        return self._records(f"SELECT * FROM drift_snapshots{where} ORDER BY ts DESC, id "
                             f"LIMIT {int(limit)}", params, _decode_snapshot)

    def latest_snapshot(self) -> DriftSnapshot | None:
        """The newest drift snapshot, if any."""
        found = self.snapshots(limit=1)
        return found[0] if found else None

    # Decisions -----------------------------------------------------------------------------
    def save_decision(self, decision: Decision) -> None:
        """Insert (or replace, by id) a monitoring decision."""
        self._upsert("decisions", _row_of(decision, ("reasons", "thresholds")))

    def update_decision(self, id: str, **fields: Any) -> Decision:
        """Change some fields of a decision (e.g. ``outcome``, ``retraining_id``).

        Raises:
            InvalidInput: a field name that ``Decision`` does not have.
            NotFound: no decision with this id.
        """
        known = {f.name for f in dataclasses.fields(Decision)} - {"id"}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise InvalidInput(f"a decision has no field {unknown[0]!r}")
        if fields:
            values = {k: (_dumps(_plain(v)) if k in ("reasons", "thresholds") else v)
                      for k, v in fields.items()}
            assignments = ", ".join(f"{k} = ?" for k in values)
            with self._transaction() as con:
                row = con.execute(f"UPDATE decisions SET {assignments} WHERE id = ?",
                                  [*values.values(), id]).fetchone()
                if not row or not row[0]:
                    raise NotFound(f"no decision {id!r}")
        found = self._records("SELECT * FROM decisions WHERE id = ?", [id], _decode_decision)
        if not found:
            raise NotFound(f"no decision {id!r}")
        return found[0]

    def decisions(self, limit: int = 50, since: datetime | None = None) -> list[Decision]:
        """Monitoring decisions, newest first."""
        where, params = self._window("ts", since, None)
        return self._records(f"SELECT * FROM decisions{where} ORDER BY ts DESC, id "
                             f"LIMIT {int(limit)}", params, _decode_decision)

    def last_decision(self) -> Decision | None:
        """The newest decision, if any."""
        found = self.decisions(limit=1)
        return found[0] if found else None

    # Retraining, approvals, jobs, model versions -------------------------------------------
    def save_retraining(self, event: RetrainingEvent) -> None:
        """Insert or replace (by id) a retraining event."""
        self._upsert("retraining_events", _row_of(event, ("comparison", "lineage")))

    def retraining(self, id: str) -> RetrainingEvent:
        """One retraining event. Raises ``NotFound``."""
        found = self._records("SELECT * FROM retraining_events WHERE id = ?", [id],
                              _decode_retraining)
        if not found:
            raise NotFound(f"no retraining {id!r}")
        return found[0]

    def retraining_events(self, limit: int = 50) -> list[RetrainingEvent]:
        """Retraining events, newest first."""
        return self._records("SELECT * FROM retraining_events ORDER BY started_at DESC, id "
                             f"LIMIT {int(limit)}", [], _decode_retraining)

    def running_retrainings(self) -> list[RetrainingEvent]:
        """Retraining events still marked ``running`` (possibly interrupted by a crash)."""
        return self._records("SELECT * FROM retraining_events WHERE status = 'running' "
                             "ORDER BY started_at", [], _decode_retraining)

    def save_approval(self, approval: Approval) -> None:
        """Insert or replace (by id) an approval."""
        self._upsert("approvals", _row_of(approval, ("comparison",)))

    def approval(self, id: str) -> Approval:
        """One approval. Raises ``NotFound``."""
        found = self._records("SELECT * FROM approvals WHERE id = ?", [id], _decode_approval)
        if not found:
            raise NotFound(f"no approval {id!r}")
        return found[0]

    def approvals(self, status: str | None = None) -> list[Approval]:
        """Approvals (optionally only those with ``status``), newest first."""
        where, params = ("", []) if status is None else (" WHERE status = ?", [status])
        return self._records(f"SELECT * FROM approvals{where} ORDER BY created_at DESC, id",
                             params, _decode_approval)

    def record_job_run(self, run: JobRun) -> None:
        """Insert or replace (by id) a scheduler job run."""
        self._upsert("job_runs", _row_of(run))

    def job_runs(self, limit: int = 50, job: str | None = None) -> list[JobRun]:
        """Job runs (optionally of one job), newest first."""
        where, params = ("", []) if job is None else (" WHERE job = ?", [job])
        return self._records(f"SELECT * FROM job_runs{where} ORDER BY started_at DESC, id "
                             f"LIMIT {int(limit)}", params, _decode_job_run)

    def record_model_version(self, version: int, run_id: str, registered_at: datetime,
                             metrics: dict[str, Any], lineage: dict[str, Any]) -> None:
        """Remember a registered model version (upsert by version)."""
        self._upsert("model_versions", {
            "version": version, "run_id": run_id, "registered_at": registered_at,
            "metrics": _dumps(metrics), "lineage": _dumps(lineage)})

    def model_versions_seen(self) -> list[dict[str, Any]]:
        """Every model version recorded, oldest first: version, run_id, registered_at,
        metrics, lineage."""
        def decode(row: dict[str, Any]) -> dict[str, Any]:
            row["metrics"] = json.loads(row["metrics"])
            row["lineage"] = json.loads(row["lineage"])
            return row

        return self._records("SELECT * FROM model_versions ORDER BY version", [], decode)

    # Audit ---------------------------------------------------------------------------------
    def append_audit(self, actor: str, action: str, subject: str, details: dict[str, Any],
                     reasoning: str) -> AuditRecord:
        """Append a record to the hash chain (reads the last hash in the same transaction)."""
        with self._transaction() as con:
            cursor = con.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")
            columns = [d[0] for d in cursor.description or ()]
            row = cursor.fetchone()
            previous = _decode_audit(dict(zip(columns, row, strict=True))) if row else None
            record = audit.next_record(previous, ts=self.clock.now(), actor=actor,
                                       action=action, subject=subject, details=details,
                                       reasoning=reasoning)
            stored = _row_of(record)
            stored["details"] = audit.canonical_json(record.details)
            con.execute("INSERT INTO audit_log (seq, ts, actor, action, subject, details, "
                        "reasoning, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        list(stored.values()))
        return record

    def audit_records(self, limit: int | None = None) -> list[AuditRecord]:
        """Audit records in chain order; with ``limit``, only the newest ``limit``."""
        sql = "SELECT * FROM audit_log ORDER BY seq"
        if limit is not None:
            sql = (f"SELECT * FROM (SELECT * FROM audit_log ORDER BY seq DESC "
                   f"LIMIT {int(limit)}) ORDER BY seq")
        return self._records(sql, [], _decode_audit)

    def last_audit(self, action: str) -> AuditRecord | None:
        """The newest audit record of ``action``, if any."""
        found = self._records("SELECT * FROM audit_log WHERE action = ? ORDER BY seq DESC "
                              "LIMIT 1", [action], _decode_audit)
        return found[0] if found else None

    def verify_audit(self) -> AuditVerification:
        """Check the whole chain; names the first altered or removed record by seq."""
        return audit.verify(self.audit_records())

    # Analysts ------------------------------------------------------------------------------
    def sql(self, query: str, limit: int | None = None) -> QueryResult:
        """Run an analyst's read-only query on a read-only connection.

        Raises:
            QueryError: the query writes, is empty or is malformed (DuckDB's message).
            StoreError: there is no database yet.
        """
        try:
            statements = duckdb.extract_statements(query)
        except duckdb.Error as exc:
            raise QueryError(_one_line(exc)) from None
        if not statements:
            raise QueryError("the query is empty")
        for statement in statements:
            if statement.type not in _READ_STATEMENTS:
                kind = str(statement.type.name)
                raise QueryError(f"only read-only queries are allowed (SELECT, WITH, DESCRIBE, "
                                 f"SHOW, SUMMARIZE, EXPLAIN); this is a {kind} statement")
        self._require_database()
        with _PROCESS_LOCK:
            con = self._open(read_only=True)
            try:
                for statement in statements[:-1]:
                    con.execute(statement.query)
                cursor = con.execute(statements[-1].query)
                columns = [d[0] for d in cursor.description or ()]
                rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
            except duckdb.Error as exc:
                raise QueryError(_one_line(exc)) from None
            finally:
                con.close()
        return QueryResult(columns=columns, rows=[tuple(r) for r in rows])

    def query_frame(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Engine-internal read helper (aggregations): the result as a DataFrame."""
        with self._connection(write=False) as con:
            return con.execute(sql, list(params or [])).df()

    def export_parquet(self, directory: Path) -> list[Path]:
        """Write each non-empty history table as Parquet partitioned by UTC day.

        Writes ``<directory>/<table>/day=YYYY-MM-DD/*.parquet``, replacing an earlier export of
        the same table.

        Returns:
            The table directories written.
        """
        self._flush_if_pending()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        with self._connection(write=False) as con:
            for table, column in _EXPORT_TABLES.items():
                row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
                if not row or not row[0]:
                    continue
                target = directory / table
                con.execute(f"COPY (SELECT *, CAST({column} AS DATE) AS day FROM {table}) "
                            f"TO {_quote_path(target)} "
                            "(FORMAT parquet, PARTITION_BY (day), OVERWRITE)")
                written.append(target)
        return written

    # Daily aggregates (dashboard) -------------------------------------------------------
    def daily_traffic(self, since: datetime | None = None,
                      until: datetime | None = None) -> list[DailyTraffic]:
        """Predictions per UTC day, oldest first, for the days of ``since`` through ``until``."""
        where, params = self._window("day", since, until, by_day=True)
        frame = self.query_frame(
            "SELECT day, predictions, spam_predicted, spam_rate FROM v_daily_traffic"
            f"{where} ORDER BY day", params)
        return [DailyTraffic(day=_as_date(row["day"]), predictions=int(row["predictions"]),
                             spam_predicted=int(row["spam_predicted"]),
                             spam_rate=float(row["spam_rate"]))
                for row in frame.to_dict("records")]

    def daily_accuracy(self, since: datetime | None = None,
                       until: datetime | None = None) -> list[DailyAccuracy]:
        """Measured (by prediction day) and estimated (by check day) accuracy per UTC day."""
        measured_where, measured_params = self._window("day", since, until, by_day=True)
        checks_where, checks_params = self._window("CAST(ts AS DATE)", since, until,
                                                     by_day=True)
        checks_where = (checks_where + " AND" if checks_where else " WHERE") + (
            " accuracy_is_estimate AND accuracy IS NOT NULL")
        frame = self.query_frame(
            "WITH measured AS (SELECT day, labelled, correct, accuracy FROM v_daily_accuracy"
            f"{measured_where}), "
            "estimated AS (SELECT CAST(ts AS DATE) AS day, avg(accuracy) AS estimated, "
            f"count(*) AS checks FROM decisions{checks_where} GROUP BY ALL) "
            "SELECT coalesce(m.day, e.day) AS day, coalesce(m.labelled, 0) AS labelled, "
            "coalesce(m.correct, 0) AS correct, m.accuracy AS measured, e.estimated, "
            "coalesce(e.checks, 0) AS checks "
            "FROM measured AS m FULL OUTER JOIN estimated AS e ON m.day = e.day ORDER BY day",
            measured_params + checks_params)
        return [DailyAccuracy(day=_as_date(row["day"]), labelled=int(row["labelled"]),
                              correct=int(row["correct"]),
                              measured=_float_or_none(row["measured"]),
                              estimated=_float_or_none(row["estimated"]),
                              checks=int(row["checks"]))
                for row in frame.to_dict("records")]


def _as_date(value: Any) -> date:
    """A DuckDB DATE as it comes out of a pandas frame (Timestamp or date)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date: {value!r}")


def _float_or_none(value: Any) -> float | None:
    """A nullable DOUBLE from a pandas frame (NaN/NA mean NULL)."""
    if value is None or value != value:  # NaN is not equal to itself
        return None
    try:
        return float(value)
    except TypeError:  # pandas.NA
        return None


def _check_label(label: str) -> str:
    if label not in LABELS:
        raise InvalidInput(f"label must be ham or spam, not {label!r}")
    return label
