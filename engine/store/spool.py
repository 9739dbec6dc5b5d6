"""Durable prediction logging: this process's spool segments and their exactly-once ingestion.

Owns the append-only JSON-lines segments under the spool directory (one ``os.write`` per
call, flock-held while owned), the flush thread that ingests closed segments into
``predictions`` together with their ``spool_segments`` ledger rows in one transaction, and the
recovery of segments left by dead processes.

Each segment opens with a header line naming it with a tag (HMAC under the data home key's
spool sub-key, ``engine.datakey``) and, once closed, ends with a seal line giving its row
count and the sha256 of its records, tagged the same way. Recovery ingests only segments whose
header is valid for their name and whose seal (if any: a killed writer never seals) matches
their content; anything else is refused with a warning and moved to ``spool/refused/``.
Rows the database refuses for their content are set aside in ``spool/rejected/``
(``engine.store.spool_reject``) so the rest keeps flowing.
Design and limits: docs/architecture.md, "Durable prediction logging: the spool".
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import io
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from engine.datakey import load_key
from engine.errors import StoreError, StoreUnreachable
from engine.records import PredictionRecord
from engine.store.connection import Connection, one_line
from engine.store.spool_files import NotASegmentFile, open_segment_file, read_all
from engine.store.spool_reject import SpoolRejectMixin

logger = logging.getLogger("spamops.store")

SEGMENT_SUFFIX = ".jsonl"
"""Spool segments ready to be ingested (or being written) end in this suffix."""

ORPHAN_SCAN_SECONDS = 30.0
"""How often the flush thread looks for segments left behind by dead processes."""

REFUSED_DIR = "refused"
"""Sub-directory of the spool where segments recovery will not ingest are moved, for review."""

_HEADER = b'{"spamops_segment":'
_SEAL = b'{"spamops_seal":'

_PREDICTION_COLUMNS = ("id", "ts", "text", "model_version", "label", "spam_probability",
                       "latency_ms", "source")
_SPOOL_SCHEMA = pa.schema([
    ("id", pa.string()), ("ts", pa.timestamp("us")), ("text", pa.string()),
    ("model_version", pa.int32()), ("label", pa.string()), ("spam_probability", pa.float64()),
    ("latency_ms", pa.float64()), ("source", pa.string()),
])


@dataclasses.dataclass
class Segment:
    """A spool file this process owns: it holds an exclusive flock on it until it is gone."""

    path: Path
    fd: int
    rows: int = 0
    digest: Any = dataclasses.field(default_factory=hashlib.sha256)
    """sha256 of every record line written, for the seal."""
    sealed: bool = False


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


def _tag(key: bytes | None, *parts: object) -> str:
    message = "|".join(str(part) for part in parts).encode("utf-8")
    return hmac.new(key or b"", message, hashlib.sha256).hexdigest()


class Spool:
    """This process's append-only segments under ``spool_dir``.

    The open segment receives every logged record with one ``os.write`` per call (so the OS
    has it when the call returns; a SIGKILL cannot lose it). ``rotate`` closes it for
    ingestion and keeps its flock, so no other process treats it as an orphan.

    Args:
        directory: the spool directory.
        key: returns the spool sub-key of the data home key (``None`` while there is none:
            such segments are still ingested by their owner, but never recovered by another).
    """

    def __init__(self, directory: Path, key: Callable[[], bytes | None] = lambda: None) -> None:
        self.directory = directory
        self._key = key
        self._lock = threading.Lock()
        self._token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = 0
        self._current: Segment | None = None
        self._closed: list[Segment] = []

    def _open_segment(self) -> Segment:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{self._token}-{self._seq:06d}"
        # Create under a name recovery ignores, lock, then rename: a segment is never visible
        # to other processes without its lock.
        temporary = self.directory / f".{name}.new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = self.directory / f"{name}{SEGMENT_SUFFIX}"
        header = json.dumps({"spamops_segment": path.name,
                             "tag": _tag(self._key(), "segment", path.name)})
        os.write(fd, header.encode("utf-8") + b"\n")
        os.rename(temporary, path)
        return Segment(path, fd)

    def _seal(self, segment: Segment) -> None:
        """End a closed segment with its row count and checksum (tagged); once only."""
        if segment.sealed or segment.rows == 0:
            return
        checksum = segment.digest.hexdigest()
        seal = json.dumps({"spamops_seal": segment.path.name, "rows": segment.rows,
                           "sha256": checksum,
                           "tag": _tag(self._key(), "seal", segment.path.name, segment.rows,
                                       checksum)})
        os.write(segment.fd, seal.encode("utf-8") + b"\n")
        segment.sealed = True

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
            self._current.digest.update(data)

    def pending_rows(self) -> int:
        """Rows written but not yet handed over to ingestion or ingested."""
        with self._lock:
            current = self._current.rows if self._current else 0
            return current + sum(s.rows for s in self._closed)

    def rotate(self) -> list[Segment]:
        """Close the open segment (if it has rows) and return every closed, owned segment."""
        with self._lock:
            if self._current is not None and self._current.rows > 0:
                self._seal(self._current)
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

    def done(self, segments: Iterable[Segment]) -> None:
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
            else:
                with contextlib.suppress(OSError):
                    self._seal(segment)
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


@dataclasses.dataclass(frozen=True)
class SegmentContent:
    """A segment file split into its header, its record lines and its seal."""

    header: dict[str, Any] | None
    body: bytes
    seal: dict[str, Any] | None
    trailing: bool
    """Bytes after the seal: something was appended to a closed segment."""

    def refusal(self, name: str, key: bytes | None) -> str | None:
        """Why recovery must not ingest this segment, or ``None`` when it may.

        Its header must name it and carry the tag only this data home's key makes; its seal,
        when there is one, must be tagged and match the records' count and sha256.
        """
        if key is None:
            return "there is no data home key to check it with"
        header = self.header or {}
        if header.get("spamops_segment") != name or not hmac.compare_digest(
                str(header.get("tag", "")), _tag(key, "segment", name)):
            return "it was not written by spamops for this data home (no valid header tag)"
        if self.seal is None:
            return None  # its writer was killed before closing it: records stand as written
        rows, checksum = self.seal.get("rows"), self.seal.get("sha256")
        if self.seal.get("spamops_seal") != name or not hmac.compare_digest(
                str(self.seal.get("tag", "")), _tag(key, "seal", name, rows, checksum)):
            return "its seal is not valid"
        if self.trailing:
            return "lines were appended after its seal"
        if checksum != hashlib.sha256(self.body).hexdigest() or rows != self.body.count(b"\n"):
            return "its records do not match the checksum in its seal"
        return None


def split_segment(path: Path, data: bytes) -> SegmentContent:
    """Header, records and seal of a segment's bytes (a cut-off last line dropped)."""
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning("spool segment %s ends with a truncated record (%d bytes): skipped",
                       path.name, len(data) - end)
        data = data[:end]
    header = seal = None
    if data.startswith(_HEADER):
        first = data.index(b"\n") + 1
        header = _json_object(data[:first])
        data = data[first:]
    trailing = False
    found = data.rfind(b"\n" + _SEAL)
    at = 0 if data.startswith(_SEAL) else (found + 1 if found >= 0 else -1)
    if at >= 0:
        stop = data.index(b"\n", at) + 1
        seal = _json_object(data[at:stop])
        trailing = stop < len(data)
        data = data[:at]
    return SegmentContent(header, data, seal, trailing)


def _json_object(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_segment(path: Path, data: bytes | None = None) -> pa.Table:
    """The acknowledged records of a spool segment as an Arrow table (header and seal left
    out).

    A last line without its newline was cut short by a crash while being written, so the
    caller was never told it was logged: it is skipped with a warning, as is any line that is
    not valid JSON.
    """
    content = split_segment(path, path.read_bytes() if data is None else data)
    return _parse_records(path, content.body)


def _parse_records(path: Path, data: bytes) -> pa.Table:
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


def _loaded(path: Path, content: SegmentContent) -> tuple[Path, pa.Table, str]:
    return path, _parse_records(path, content.body), hashlib.sha256(content.body).hexdigest()


class SpoolMixin(SpoolRejectMixin):
    """Log predictions to the spool; flush, recover and close it (a segment the store refuses
    for its content is salvaged and set aside by ``SpoolRejectMixin``)."""

    _spool: Spool
    _flush_lock: threading.RLock
    _stop: threading.Event
    _thread: threading.Thread | None
    _thread_lock: threading.Lock
    _last_orphan_scan: float
    _unmovable: set[str]
    """Names recovery refused but could not move aside: skipped, not warned about again."""
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

    def spool_backlog(self) -> tuple[int, int]:
        """Segments waiting in the spool directory (every process's) and their total bytes:
        what has been logged but not yet ingested, for the ``spool backlog growing`` alert."""
        segments = size = 0
        for path in self.spool_dir.glob(f"*{SEGMENT_SUFFIX}"):
            try:
                size += path.stat().st_size
            except FileNotFoundError:  # ingested and deleted meanwhile
                continue
            segments += 1
        return segments, size

    def _orphan_candidates(self) -> list[Path]:
        if not self.spool_dir.is_dir():
            return []
        owned = self._spool.owned_names()
        return sorted(p for p in self.spool_dir.glob(f"*{SEGMENT_SUFFIX}")
                      if p.name not in owned and p.name not in self._unmovable)

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
                    fd = open_segment_file(path)  # never blocks on a FIFO, never follows links
                except FileNotFoundError:
                    continue  # ingested by its owner or another recovery meanwhile
                except NotASegmentFile as exc:
                    self._refuse(path, str(exc))
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)  # a live process is writing or ingesting it
                    continue
                held.append((path, fd))
            if not held:
                return 0
            key = self._spool_key()
            if key is None:  # never refuse what the restored key would accept
                logger.warning("%d orphan spool segments wait: the data home key %s is "
                               "missing, so their tags cannot be checked; restore it from a "
                               "backup to recover them", len(held), self.key_path)
                return 0
            accepted = []
            for path, fd in held:
                content = split_segment(path, read_all(fd))
                reason = content.refusal(path.name, key)
                if reason is None:
                    accepted.append((path, content))
                else:
                    self._refuse(path, reason)
            added = self._ingest_or_reject([_loaded(path, content)
                                            for path, content in accepted])
            for path, _ in accepted:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if added:
                logger.warning("recovered %d logged predictions from %d orphan spool "
                               "segments", added, len(accepted))
            return added
        finally:
            for _, fd in held:
                os.close(fd)

    def _refuse(self, path: Path, reason: str) -> None:
        """Move a segment recovery will not ingest to ``spool/refused/`` and say why (a rename,
        so a FIFO or a directory moves as it is; a name already there gets a unique suffix).
        If it cannot be moved, it is skipped by later scans of this process, warned once."""
        if path.name in self._unmovable:
            return
        target = path.parent / REFUSED_DIR / path.name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(target):
                target = target.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}")
            os.replace(path, target)
        except FileNotFoundError:
            return  # moved or removed by another process meanwhile
        except OSError as exc:
            self._unmovable.add(path.name)
            logger.warning("spool segment %s refused: %s; it could not be moved to %s (%s), "
                           "remove it by hand", path.name, reason, target.parent,
                           exc.strerror or exc)
            return
        logger.warning("spool segment %s refused: %s; moved to %s", path.name, reason, target)

    def _spool_key(self) -> bytes | None:
        """The spool sub-key of the data home key (``None`` while there is no key file)."""
        key = load_key(self.key_path)
        return key.derive("spool segment") if key is not None else None

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

