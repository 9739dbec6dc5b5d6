"""Spool rows the database refuses for their content: the good rows land, the bad are set aside.

A spool segment whose ingestion fails because of what it holds (a row PostgreSQL cannot store,
such as a NUL character; a row violating a constraint; a segment written by an older version
with a field missing) would otherwise fail every later flush and block the host's spool for
good. Such a failure is told apart from the database being away or busy by the class of the
database's error (DB-API ``DataError`` or ``IntegrityError``: SQLSTATE classes 22 and 23 on
PostgreSQL, DuckDB's conversion, out-of-range and constraint errors); anything else is left
to the flush's retry as before.

Then each segment is ingested on its own; one that still fails is probed row by row (each row
inserted alone and rolled back), and in one transaction its good rows are ingested with its
``spool_segments`` ledger row (so a retry after a crash adds nothing twice) and a
``spool.rejected`` audit record (segment name, rows rejected, sha256 of the segment's records).
Its refused rows were written before that to ``<spool>/rejected/<segment>`` (JSON lines, one
record each, the spool's own format) with ``<segment>.reason.txt`` beside it; nothing is
deleted. ``spamops store reingest FILE`` puts such a file back once the cause is fixed.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engine.errors import StoreBusy, StoreError, StoreUnreachable
from engine.store.audit_log import AuditMixin
from engine.store.connection import Connection, one_line
from engine.store.spool_segment import _parse_records

logger = logging.getLogger("spamops.store")

REJECTED_DIR = "rejected"
"""Sub-directory of the spool holding rows the database refused, one file per segment."""
REASON_SUFFIX = ".reason.txt"
"""The sidecar note beside a rejected file: why, when, and how many rows."""

REINGESTED_SUFFIX = ".reingested"
"""A rejected file once ``spamops store reingest`` put its rows into the store (kept)."""

_COLUMNS = ("id", "ts", "text", "model_version", "label", "spam_probability", "latency_ms",
            "source")

Loaded = tuple[Path, pa.Table, str]
"""A segment ready to ingest: its path, its records, the sha256 of its record lines."""


def content_error(exc: BaseException) -> BaseException | None:
    """The database error behind ``exc`` that is about the data, or ``None``.

    The store turns a driver's error into a one-line ``StoreError`` (``raise ... from None``,
    which keeps the driver's error as ``__context__``); this walks that chain. Never one for
    ``StoreUnreachable`` or ``StoreBusy``: the database being away or busy is no fault of a
    row.
    """
    if isinstance(exc, StoreUnreachable | StoreBusy):
        return None
    kinds: tuple[type[BaseException], ...] = (duckdb.DataError, duckdb.IntegrityError)
    psycopg = sys.modules.get("psycopg")  # loaded only when a PostgreSQL store is in use
    if psycopg is not None:
        kinds += (psycopg.DataError, psycopg.IntegrityError)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kinds):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def rejected_files(spool_dir: Path) -> list[Path]:
    """The rejected-row files waiting for an operator under ``spool_dir`` (sorted)."""
    folder = spool_dir / REJECTED_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.endswith((REASON_SUFFIX, REINGESTED_SUFFIX))
                  and not p.name.startswith("."))


def _json_lines(table: pa.Table) -> bytes:
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, dt.datetime) else value

    return b"".join(
        (json.dumps({k: plain(v) for k, v in row.items() if v is not None},
                    ensure_ascii=False) + "\n")
        .encode("utf-8", "surrogatepass") for row in table.to_pylist())


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.new")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


class SpoolRejectMixin(AuditMixin):
    """Ingest spool segments so that rows the database refuses cannot block the rest."""

    @abc.abstractmethod
    def _ingest(self, segments: Sequence[Loaded], *,
                also: Callable[[Connection], None] | None = None) -> int:
        """Ingest ``segments`` in one transaction, ``also`` run inside it; returns the rows
        added (``engine.store.spool.SpoolMixin``)."""

    def _ingest_or_reject(self, segments: Sequence[Loaded]) -> int:
        """``_ingest`` all at once; on a content error, segment by segment, salvaging the good
        rows of one the database refuses. Other errors propagate (the flush retries)."""
        try:
            return self._ingest(segments)
        except StoreError as exc:
            if content_error(exc) is None:
                raise
        added = 0
        for item in segments:
            try:
                added += self._ingest([item])
            except StoreError as exc:
                cause = content_error(exc)
                if cause is None:
                    raise
                added += self._salvage(item, one_line(cause))
        return added

    def _salvage(self, item: Loaded, reason: str) -> int:
        path, table, checksum = item
        refused = self._refused_rows(table)
        if not refused:  # each row passes alone but not together: keep them all aside
            refused = list(range(table.num_rows))
        added = self._reject(path, table, checksum, refused, reason)
        if added is None:  # the good rows, together, still refused: set the whole lot aside
            added = self._reject(path, table, checksum, list(range(table.num_rows)), reason)
        return added or 0

    def _reject(self, path: Path, table: pa.Table, checksum: str, refused: list[int],
                reason: str) -> int | None:
        """Write the refused rows aside, then ingest the rest with the ledger row and the
        audit record; ``None`` if the rest is refused too (nothing committed)."""
        refused_set = set(refused)
        mask = pa.array([i not in refused_set for i in range(table.num_rows)])
        good, bad = table.filter(mask), table.take(pa.array(refused, pa.int64()))
        target = self.spool_dir / REJECTED_DIR / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, _json_lines(bad))
        _write_atomically(target.with_name(target.name + REASON_SUFFIX), (
            f"segment: {path.name}\nrejected rows: {bad.num_rows} of {table.num_rows}\n"
            f"sha256 of the segment's records: {checksum}\nwhy: {reason}\n"
            f"re-ingest once fixed: spamops store reingest {target}\n").encode())
        records = []

        def audit(con: Connection) -> None:
            records.append(self._append_audit_in(
                con, "spool", "spool.rejected", path.name,
                {"segment": path.name, "rows": bad.num_rows, "rows_ingested": good.num_rows,
                 "sha256": checksum, "file": f"spool/{REJECTED_DIR}/{path.name}",
                 "reason": reason},
                f"{bad.num_rows} of {table.num_rows} rows of spool segment {path.name} "
                f"refused by the store ({reason}); set aside in spool/{REJECTED_DIR}/"))

        try:
            added = self._ingest([(path, good, checksum)], also=audit)
        except StoreError as exc:
            if content_error(exc) is None or bad.num_rows == table.num_rows:
                raise
            return None
        for record in records:
            self._anchor(record)
        logger.warning("spool segment %s: %d of %d rows refused by the store (%s); set aside "
                       "in %s", path.name, bad.num_rows, table.num_rows, reason, target)
        return added

    def _refused_rows(self, table: pa.Table) -> list[int]:
        """Indices of the rows the database refuses when each is inserted alone (every insert
        undone: a rolled-back transaction on DuckDB, a savepoint on PostgreSQL)."""
        refused: list[int] = []
        columns = ", ".join(_COLUMNS)
        conflict = " ON CONFLICT (id) DO NOTHING" if self._pg is not None else ""
        insert = (f"INSERT INTO predictions ({columns}, ingest_seq) SELECT {columns}, 0 "
                  f"FROM probe_row{conflict}")
        with self._connection(write=True) as con:
            for index in range(table.num_rows):
                row = table.slice(index, 1)
                con.execute("SAVEPOINT probe" if self._pg is not None else "BEGIN TRANSACTION")
                try:
                    con.register("probe_row", row)
                    con.execute(insert)
                except Exception as exc:
                    if content_error(exc) is None:
                        raise
                    refused.append(index)
                finally:
                    con.execute("ROLLBACK TO SAVEPOINT probe" if self._pg is not None
                                else "ROLLBACK")
                    if self._pg is None:
                        con.unregister("probe_row")
        return refused

    def rejected_segments(self) -> int:
        """Files of refused spool rows waiting in ``<spool>/rejected/`` (for ``/health`` and
        ``spamops_spool_rejected_segments``); reads no database."""
        return len(rejected_files(self.spool_dir))

    def reingest(self, path: Path) -> int:
        """Ingest a file of rejected spool rows (JSON lines) once its cause is fixed.

        Exactly once: the file is listed in ``spool_segments`` under ``reingest-<sha256>`` of
        its bytes, in the same transaction as its rows, and renamed ``*.reingested`` after.

        Returns:
            Rows added (0 when this content was re-ingested before).

        Raises:
            StoreError: the file cannot be read, or the store still refuses a row (nothing
                added; the message says why).
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        checksum = hashlib.sha256(data).hexdigest()
        # Checked here, line by line, before the spool's reader (which logs a warning per
        # line it skips): one error naming the first bad line. Blank lines and a missing
        # final newline are what an editor leaves, not errors.
        numbered = [(number, line) for number, line in
                    enumerate(data.removeprefix(b"\xef\xbb\xbf").splitlines(), start=1)
                    if line.strip()]
        bad = [number for number, line in numbered if not _is_json_object(line)]
        if bad:
            raise StoreError(f"{path} line {bad[0]} is not a spool record ({len(bad)} of "
                             f"{len(numbered)} lines are not JSON objects with the prediction "
                             "fields); fix them first")
        table = _parse_records(path, b"".join(line + b"\n" for _, line in numbered))
        if table.num_rows != len(numbered):
            raise StoreError(f"{path}: {len(numbered) - table.num_rows} of {len(numbered)} "
                             "lines are not spool records (JSON objects with the prediction "
                             "fields); fix them first")
        missing = [c for c in _COLUMNS if table.column(c).null_count]
        if missing:
            raise StoreError(f"{path}: some rows have no {', '.join(missing)}; every field is "
                             "required, fix them first")
        try:
            added = self._ingest([(Path(f"reingest-{checksum}"), table, checksum)])
        except StoreError as exc:
            cause = content_error(exc)
            if cause is None:
                raise
            raise StoreError(f"the store still refuses a row of {path}: {one_line(cause)}; "
                             "nothing was added") from None
        path.rename(path.with_name(path.name + REINGESTED_SUFFIX))
        return added


def _is_json_object(line: bytes) -> bool:
    """Whether one line of a rejected spool file is a JSON object (a record's shape)."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # not JSON, or not UTF-8
        return False
