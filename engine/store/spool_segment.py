"""Spool segments: the files one process writes, and how any segment file is read back.

Owns the segment format and its writer: ``Spool`` appends JSON-lines records to this
process's open segment (one ``os.write`` per call, flock-held while owned), rotates it closed
and deletes it once ingested. Each segment opens with a header line naming it with a tag (HMAC
under the data home key's spool sub-key, ``engine.datakey``) and, once closed, ends with a seal
line giving its row count and the sha256 of its records, tagged the same way.
``split_segment`` and ``SegmentContent.refusal`` take a segment's bytes apart and say whether
recovery may trust them; ``read_segment`` gives its records as an Arrow table. Ingestion lives
in ``engine.store.spool``, recovery of dead writers' segments in ``engine.store.spool_recovery``.
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
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json

from engine.records import PredictionRecord

logger = logging.getLogger("spamops.store")

SEGMENT_SUFFIX = ".jsonl"
"""Spool segments ready to be ingested (or being written) end in this suffix."""

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
