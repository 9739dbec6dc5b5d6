"""Recovery of segments left in the spool by dead processes, and refusing what is not ours.

Owns the orphan scan (every segment file no live process holds the flock of), the checks a
segment must pass before it is ingested (its header and seal tags, ``SegmentContent.refusal``;
the ``spool_segments`` ledger: a name already ingested is deleted only when its checksum is the
ledgered one) and ``spool/refused/``, where anything else is moved with a one-line warning.
Every candidate is opened through ``engine.store.spool_files`` (never blocks, never follows a
link). Design and limits: docs/architecture.md, "Durable prediction logging: the spool".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import time
import uuid
from pathlib import Path

from engine.datakey import load_key
from engine.store.spool_files import NotASegmentFile, open_segment_file, read_all
from engine.store.spool_reject import SpoolRejectMixin
from engine.store.spool_segment import (
    SEGMENT_SUFFIX,
    SegmentContent,
    Spool,
    _loaded,
    split_segment,
)

logger = logging.getLogger("spamops.store")

REFUSED_DIR = "refused"
"""Sub-directory of the spool where segments recovery will not ingest are moved, for review."""


class SpoolRecoveryMixin(SpoolRejectMixin):
    """Find, check and ingest (or refuse) the segments of processes that died."""

    _spool: Spool
    _last_orphan_scan: float
    _unmovable: set[str]
    """Names recovery refused but could not move aside: skipped, not warned about again."""

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
            accepted = self._not_ingested_before(accepted)
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

    def _not_ingested_before(self, accepted: list[tuple[Path, SegmentContent]]
                             ) -> list[tuple[Path, SegmentContent]]:
        """The segments whose name is not in the ``spool_segments`` ledger yet.

        A listed one whose records' sha256 is the ledgered one is what a crash between ingest
        and delete leaves: deleted quietly. A listed one whose records differ (a valid header
        with other rows, put back under an ingested name) is refused, never deleted unseen.
        """
        names = [path.name for path, _ in accepted]
        if not names:
            return accepted
        with self._connection(write=False) as con:
            ledger: dict[str, str | None] = dict(con.execute(
                f"SELECT name, sha256 FROM spool_segments WHERE name IN "
                f"({', '.join('?' for _ in names)})", names).fetchall())
        fresh = []
        for path, content in accepted:
            if path.name not in ledger:
                fresh.append((path, content))
                continue
            ledgered = ledger[path.name]
            if ledgered is not None and hmac.compare_digest(
                    ledgered, hashlib.sha256(content.body).hexdigest()):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # a genuine leftover: its rows are in already
            elif ledgered is None:
                self._refuse(path, "it was already ingested under this name, and the ledger "
                                   "has no checksum to compare its records with")
            else:
                self._refuse(path, "it was already ingested under this name, with other "
                                   "records (checksum mismatch with the spool_segments ledger)")
        return fresh

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
