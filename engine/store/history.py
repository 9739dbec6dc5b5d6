"""``Store``: the history of one data home, composed of one mixin per concern.

Each concern lives in its own module of this package; this module only puts them together and
opens the spool (recovering what dead processes left) when a writer starts.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from engine.clock import Clock
from engine.errors import StoreError
from engine.notify.config import NotifySettings
from engine.store.alias_moves import AliasMovesMixin
from engine.store.analyst import AnalystMixin
from engine.store.audit_log import AuditMixin
from engine.store.backup import BackupMixin
from engine.store.events import EventsMixin
from engine.store.outbox import OutboxMixin
from engine.store.predictions import PredictionsMixin
from engine.store.retention import RetentionMixin
from engine.store.schema import SchemaMixin
from engine.store.spool import Spool, SpoolMixin

logger = logging.getLogger("spamops.store")


class Store(SpoolMixin, PredictionsMixin, EventsMixin, AuditMixin, OutboxMixin, AnalystMixin,
            SchemaMixin, AliasMovesMixin, BackupMixin, RetentionMixin):
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
        recover: a writer ingests what dead processes left in the spool right here (which
            waits while another process holds the file). ``False`` makes construction free
            of I/O, for a server that must answer at once; ``migrate()`` recovers later.
        notify: the webhook receivers; events handed to the write methods become one outbox
            row per subscribed receiver (none without receivers).
    """

    def __init__(self, db_path: Path, spool_dir: Path, *, clock: Clock,
                 read_only: bool = False, flush_seconds: float = 0.5,
                 busy_timeout: float = 30.0, recover: bool = True,
                 notify: NotifySettings | None = None) -> None:
        self.db_path = Path(db_path)
        self.spool_dir = Path(spool_dir)
        self.clock = clock
        self.read_only = read_only
        self.flush_seconds = flush_seconds
        self.busy_timeout = busy_timeout
        self.notify = notify or NotifySettings()
        self._outbox_listeners = []
        self._spool = Spool(self.spool_dir)
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._last_orphan_scan = 0.0
        self._closed = False
        if read_only:
            self._require_database()
        elif recover and self.db_path.exists() and self._orphan_candidates():
            try:
                self.recover_spool()
            except StoreError as exc:
                logger.warning("spool recovery deferred: %s", exc)

