"""``Store``: the history of one data home, composed of one mixin per concern.

Each concern lives in its own module of this package; this module only puts them together and
opens the spool (recovering what dead processes left) when a writer starts.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from engine.clock import Clock
from engine.datakey import KEY_FILE, load_key, load_or_create_key
from engine.errors import KeyMissing, StoreError
from engine.notify.config import NotifySettings
from engine.store.alias_moves import AliasMovesMixin
from engine.store.analyst import AnalystMixin
from engine.store.audit_log import AuditMixin
from engine.store.backup import BackupMixin
from engine.store.baseline import BaselineMixin
from engine.store.evaluation import EvaluationMixin
from engine.store.events import EventsMixin
from engine.store.labels import LabelsMixin
from engine.store.outbox import OutboxMixin
from engine.store.predictions import PredictionsMixin
from engine.store.retention import RetentionMixin
from engine.store.schema import SchemaMixin
from engine.store.spool import Spool, SpoolMixin

if TYPE_CHECKING:
    from engine.store.postgres import AdvisoryLock

logger = logging.getLogger("spamops.store")


class Store(SpoolMixin, PredictionsMixin, LabelsMixin, EventsMixin, EvaluationMixin,
            BaselineMixin, AuditMixin, OutboxMixin, AnalystMixin, SchemaMixin, AliasMovesMixin,
            BackupMixin, RetentionMixin):
    """The history of one data home: predictions, feedback, snapshots, decisions, the evaluation
    set, the accepted drift baseline, audit...

    Args:
        db_path: the DuckDB file.
        spool_dir: where logged predictions wait for ingestion.
        clock: the source of "now" for timestamps the store sets itself.
        read_only: a reader (dashboard, analyst) never writes, never migrates and never
            starts the flush thread; it needs an existing database.
        flush_seconds: how often the flush thread ingests the spool.
        busy_timeout: how long an operation waits for another process to release the file
            before raising ``StoreBusy``.
        recover: a writer creates the data home key if missing and ingests what dead
            processes left in the spool right here (which waits while another process holds
            the file). ``False`` makes construction free of I/O, for a server that must answer
            at once; ``migrate()`` does both later.
        key_path: the data home key; default ``spamops.key`` beside ``db_path``.
        notify: the webhook receivers; events handed to the write methods become one outbox
            row per subscribed receiver (none without receivers).
        url: ``postgresql://...`` keeps the history in that PostgreSQL database
            (``engine.store.postgres``) instead of ``db_path``; ``None`` or a ``duckdb:///``
            URL keeps the DuckDB file. The spool and the key stay local either way.
        pool_size: PostgreSQL only: connections this process may hold.
    """

    def __init__(self, db_path: Path, spool_dir: Path, *, clock: Clock,
                 read_only: bool = False, flush_seconds: float = 0.5,
                 busy_timeout: float = 30.0, recover: bool = True,
                 key_path: Path | None = None,
                 notify: NotifySettings | None = None, url: str | None = None,
                 pool_size: int = 4, statement_timeout: float = 30.0) -> None:
        self.db_path = Path(db_path)
        self.spool_dir = Path(spool_dir)
        self.key_path = Path(key_path) if key_path else self.db_path.with_name(KEY_FILE)
        self.clock = clock
        self.read_only = read_only
        self.flush_seconds = flush_seconds
        self.busy_timeout = busy_timeout
        self.notify = notify or NotifySettings()
        self.statement_timeout = statement_timeout
        if url and url.startswith(("postgresql://", "postgres://")):
            from engine.store.postgres import PostgresBackend  # psycopg only when used

            self.dialect = "postgresql"
            self._pg = PostgresBackend(url, pool_size=pool_size, busy_timeout=busy_timeout)
        self._outbox_listeners = []
        self._sidecars = {}
        self._spool = Spool(self.spool_dir, key=self._cached_spool_key)
        self._spool_key_cache: bytes | None = None
        self._flush_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._last_orphan_scan = 0.0
        self._unmovable = set()
        self._flush_failure = ""
        self._closed = False
        if read_only:
            self._require_database()
            return
        if not recover:
            return  # construction free of I/O: migrate() creates the key and recovers
        self._ensure_key()
        if self._has_database() and self._orphan_candidates():
            try:
                self.recover_spool()
            except StoreError as exc:
                logger.warning("spool recovery deferred: %s", exc)


    def _ensure_key(self) -> None:
        """A writer needs the data home key (spool tags, audit HMAC): create it if missing.

        On an existing database the key is created where the audit chain can mark the switch
        (a short transaction); before any database exists, nothing is chained yet.
        """
        if load_key(self.key_path) is not None:
            return
        try:
            if self._has_database() and self.schema_version() > 0:
                self.ensure_audit_key()
            elif not self._has_database():
                load_or_create_key(self.key_path, keyed_from=1)
        except KeyMissing as exc:  # predictions still spool; audited writes fail until then
            logger.warning("%s", exc)
        except StoreError as exc:
            logger.warning("data home key not created yet (%s); it will be at the next "
                           "audit record or setup", exc)

    def advisory_lock(self, name: str, holder: str, *,
                      dead_peer_seconds: float | None = None) -> AdvisoryLock | None:
        """A session-level advisory lock ``name`` on this store's PostgreSQL database
        (``engine.store.postgres.AdvisoryLock``: one holder across every host, released by
        PostgreSQL when the holder dies); ``None`` on DuckDB, where file locks do that.
        With ``dead_peer_seconds``, TCP keepalives on both ends drop the holder's session
        within about that long after its host vanished without closing it."""
        if self._pg is None:
            return None
        from engine.store.postgres import AdvisoryLock

        return AdvisoryLock(self._pg.url, name, holder, dead_peer_seconds=dead_peer_seconds)

    def _has_database(self) -> bool:
        """Whether the history exists: the DuckDB file; a PostgreSQL database always does
        (its schema may still be empty)."""
        return self._pg is not None or self.db_path.exists()

    def close(self) -> None:
        """Stop the flush thread, ingest what is left, and close the PostgreSQL pool."""
        try:
            super().close()
        finally:
            if self._pg is not None:
                self._pg.close()

    def _cached_spool_key(self) -> bytes | None:
        if self._spool_key_cache is None:
            key = load_key(self.key_path)
            self._spool_key_cache = key.derive("spool segment") if key is not None else None
        return self._spool_key_cache
