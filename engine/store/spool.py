"""Durable prediction logging: logging to the spool, the flush thread and exactly-once ingestion.

Owns ``SpoolMixin``: predictions logged into this process's segments
(``engine.store.spool_segment``), the flush thread that ingests closed segments into
``predictions`` together with their ``spool_segments`` ledger rows in one transaction, the
spool's status for ``/health``, and closing. Recovery of segments left by dead processes, and
refusing into ``spool/refused/`` what this store did not write, is
``engine.store.spool_recovery``; rows the database refuses for their content are set aside in
``spool/rejected/`` (``engine.store.spool_reject``) so the rest keeps flowing.
This module re-exports the segment and recovery names other modules import from here.
Design and limits: docs/architecture.md, "Durable prediction logging: the spool".
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from engine.errors import StoreError, StoreUnreachable
from engine.records import PredictionRecord
from engine.store.connection import Connection, one_line
from engine.store.spool_recovery import REFUSED_DIR, SpoolRecoveryMixin
from engine.store.spool_segment import (
    _PREDICTION_COLUMNS,
    SEGMENT_SUFFIX,
    Segment,
    SegmentContent,
    Spool,
    _encode,
    _loaded,
    _parse_records,
    read_segment,
    split_segment,
)

__all__ = ["ORPHAN_SCAN_SECONDS", "REFUSED_DIR", "SEGMENT_SUFFIX", "Segment", "SegmentContent",
           "Spool", "SpoolMixin", "SpoolStatus", "_encode", "_parse_records", "read_segment",
           "split_segment"]

logger = logging.getLogger("spamops.store")

ORPHAN_SCAN_SECONDS = 30.0
"""How often the flush thread looks for segments left behind by dead processes."""


@dataclasses.dataclass(frozen=True)
class SpoolStatus:
    """The store as the spool sees it: reachable or not, and rows waiting in this process."""

    reachable: bool
    spooled: int
    error: str = ""
    failing: str = ""
    """Why the last flush failed while the store answered (a row it refuses, a full disk):
    empty once a flush succeeds. Such a failure repeats on every tick, so ``/health`` shows
    it instead of leaving it to the log."""


class SpoolMixin(SpoolRecoveryMixin):
    """Log predictions to the spool; flush, recover and close it (a segment the store refuses
    for its content is salvaged and set aside by ``SpoolRejectMixin``)."""

    _flush_lock: threading.RLock
    _stop: threading.Event
    _thread: threading.Thread | None
    _thread_lock: threading.Lock
    _flush_failure: str
    _closed: bool
    flush_seconds: float

    def _session_guard(self) -> contextlib.AbstractContextManager[Any]:
        """``flush`` takes the flush lock, then a connection: a session takes them in that order
        too (re-entrant, so a flush inside the session goes through)."""
        return self._flush_lock

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
        away = False
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
                if time.monotonic() - self._last_orphan_scan >= ORPHAN_SCAN_SECONDS:
                    self.recover_spool()
                self._flush_failure = ""
                if away:
                    logger.warning("the store is back: the spool drained")
                    away = False
            except StoreUnreachable as exc:  # said once per outage; the spool keeps filling
                if not away:
                    logger.warning("%s; predictions wait in the spool until it is back", exc)
                away = True
            except Exception as exc:  # keep logging alive; segments stay for the next tick
                self._flush_failure = one_line(exc)
                logger.warning("spool flush failed, will retry: %s", exc)

    def spool_status(self) -> SpoolStatus:
        """Whether the store answered the last time it was tried, and how many predictions
        this process holds in its spool meanwhile; reads no database (for ``/health``)."""
        pg = self._pg
        reachable = pg is None or pg.down_since is None
        return SpoolStatus(reachable=reachable, spooled=self._spool.pending_rows(),
                           error="" if pg is None else pg.last_error,
                           failing=self._flush_failure)

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
            # This process wrote these and holds their flock: no need to check their tags.
            added = self._ingest_or_reject([
                _loaded(s.path, split_segment(s.path, s.path.read_bytes())) for s in segments])
            self._spool.done(segments)
            return added

    def _flush_if_pending(self) -> None:
        if not self.read_only and not self._closed and self._spool.pending_rows():
            self.flush()

    def _ingest(self, segments: Sequence[tuple[Path, pa.Table, str]], *,
                also: Callable[[Connection], None] | None = None) -> int:
        """Insert segments not yet listed in ``spool_segments``, with their rows and checksum
        there, in one transaction: re-ingesting after a crash never duplicates a row.
        ``also(con)`` runs in that transaction when a segment was fresh (an audit record)."""
        names = [path.name for path, _, _ in segments]
        if not names:
            return 0
        with self._transaction() as con:
            # On PostgreSQL several hosts ingest at once: one at a time keeps ingest_seq
            # increasing in commit order (DuckDB's single writer gives that for free).
            self._serialise(con, "spool ingest")
            listed = {row[0] for row in con.execute(
                f"SELECT name FROM spool_segments WHERE name IN "
                f"({', '.join('?' for _ in names)})", names).fetchall()}
            fresh = [item for item in segments if item[0].name not in listed]
            if not fresh:
                return 0
            incoming = pa.concat_tables([table for _, table, _ in fresh])
            added = int(incoming.num_rows)
            if incoming.num_rows:
                con.register("incoming_predictions", incoming)
                columns = ", ".join(_PREDICTION_COLUMNS)
                # Ingestion order: one writer at a time holds the file, so numbers given in
                # this transaction are above every number already committed (and above every
                # window already evaluated, whatever happened to the rows since).
                # PostgreSQL: prediction ids are the idempotency key as well (migration 012's
                # unique index): a batch committed just before the connection was lost, and
                # so retried, adds nothing the second time.
                conflict = " ON CONFLICT (id) DO NOTHING" if self._pg is not None else ""
                result = con.execute(
                    f"INSERT INTO predictions ({columns}, ingest_seq) SELECT {columns}, "
                    "greatest((SELECT coalesce(max(ingest_seq), 0) FROM predictions), "
                    "(SELECT coalesce(max(ingest_seq_to), 0) FROM drift_snapshots)) "
                    f"+ row_number() OVER () FROM incoming_predictions{conflict}")
                if self._pg is not None:
                    added = int(result.rowcount)
                con.unregister("incoming_predictions")
            now = self.clock.now()
            ledger = pd.DataFrame({"name": [p.name for p, _, _ in fresh],
                                   "ingested_at": [now] * len(fresh),
                                   "rows": [t.num_rows for _, t, _ in fresh],
                                   "sha256": [c for _, _, c in fresh]})
            con.register("incoming_segments", ledger)
            con.execute("INSERT INTO spool_segments (name, ingested_at, rows, sha256) "
                        "SELECT name, ingested_at, rows, sha256 FROM incoming_segments")
            con.unregister("incoming_segments")
            if also is not None:
                also(con)
            return added

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

