"""The facade's lifecycle: settings, the store, the registry, the champion switch, closing.

Owns ``ServicesBase``, which every concern of ``Services`` extends: building the engine's
parts from ``Settings``, opening the history store on first use (migrations, spool recovery,
pending champion changes, the audited configuration), ``start_serving`` and the shared serving
lock, the champion switch, the monitor log, the audit trail's append, the scheduler holder and
``close``. The methods declared abstract here are provided by the concern modules. It must
hold no business rule, and must not import a concern module (they import it).
"""

from __future__ import annotations

import abc
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, SystemClock
from engine.config import Settings
from engine.dataset import Dataset
from engine.datasets import DatasetCatalog
from engine.errors import SpamopsError
from engine.records import AuditRecord
from engine.registry import Aliases, Registry
from engine.services.probe import StoreProbe
from engine.serving import ChampionCache

if TYPE_CHECKING:
    from engine.champion_switch import ChampionSwitch
    from engine.drift import DetectorCache, DriftDetector
    from engine.monitoring import Monitor, MonitorLog
    from engine.notify.events import NotifyEvent
    from engine.notify.sender import OutboxSender
    from engine.retention import PruneReport
    from engine.scheduling import HolderInfo, HolderLock
    from engine.services.results import Health
    from engine.store import Store

logger = logging.getLogger("engine.services")

HOLDER_CACHE_SECONDS = 1.0
"""How long a scheduler holder read from PostgreSQL is reused (``scheduler_holder``)."""

SERVING_LOCK = "serving.lock"
"""Held shared by every serving process of a data home (``spamops restore`` checks it)."""


class ServicesBase(abc.ABC):
    """The state every concern of ``Services`` shares, and its lifecycle."""

    # Provided by the concern modules (engine/services/*.py) ------------------------------
    @abc.abstractmethod
    def _outbox_written(self) -> None:
        """The store enqueued webhook events (``notifications``)."""

    @abc.abstractmethod
    def _close_notifications(self) -> None:
        """Stop the sender, delivering first what this process enqueued (``notifications``)."""

    @abc.abstractmethod
    def _champion_tags(self) -> dict[str, str] | None:
        """The champion's lineage tags (``models``)."""

    @abc.abstractmethod
    def drift_detector(self, version: int | None = None) -> DriftDetector:
        """The drift detector of ``version`` (``drift``)."""

    @abc.abstractmethod
    def prune(self, *, dry_run: bool = False, actor: str | None = None) -> PruneReport:
        """Apply the retention policy now (``operations``)."""

    @abc.abstractmethod
    def health(self, wait: float = 0.0) -> Health:
        """Champion serving, store answering, scheduler holder (``operations``)."""

    @abc.abstractmethod
    def audit_head_anchored(self) -> int:
        """Audit records as last anchored in the monitor log (``history``)."""

    # Lifecycle -------------------------------------------------------------------------

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 read_only: bool = False) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.read_only = read_only
        self.dataset = Dataset(settings.dataset_url, settings.dataset_dir, seed=settings.seed,
                               test_size=settings.test_size)
        self.datasets = DatasetCatalog(settings.home / "datasets", self.dataset)
        self.registry = Registry(settings.tracking_uri, settings.model_name,
                                 str(settings.artifacts_dir.resolve()))
        self.champion = ChampionCache(self.registry, settings.server.champion_refresh_seconds,
                                      on_aliases=self._aliases_seen)
        self._store: Store | None = None
        """The store once opened for use (migrated, spool recovered, config audited)."""
        self._spool_store: Store | None = None
        """The same store object before it is opened: logging needs no database."""
        self._switch: ChampionSwitch | None = None
        self._store_probe = StoreProbe(self)
        self._opener: threading.Thread | None = None
        self._open_error = ""
        """Why ``start_serving``'s last attempt to open the store failed (for ``/health``)."""
        self._serving_fd: int | None = None
        self._closing = False
        self._monitor: Monitor | None = None
        self._monitor_log: MonitorLog | None = None
        self._store_lock = threading.Lock()
        self._drift_cache: DetectorCache | None = None
        self._sender: OutboxSender | None = None
        self._enqueued = False
        self._holder_seen: tuple[float, HolderInfo | None] | None = None

    @property
    def store(self) -> Store:
        """The history store, opened on first use (read-write stores migrate first).

        Opening waits while another process holds the file: never call it on an event loop
        (the API opens it with ``start_serving``, off the loop).
        """
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    store = self._unopened_store()
                    if not self.read_only:
                        store.migrate()  # also ingests what dead processes left in the spool
                        self._record_config_change(store)
                    self._store = store
                    if not self.read_only:
                        self._settle_champion_changes()
        return self._store

    def _settle_champion_changes(self) -> None:
        """Finish or undo champion changes a dead process left half-done (on a writer's
        start); if the registry cannot be reached now, the next change does it."""
        try:
            self.champion_switch.recover()
        except SpamopsError as exc:
            logger.warning("could not settle a pending champion change yet: %s", exc)

    def _unopened_store(self) -> Store:
        """The ``Store`` object, built without touching the database (no waiting)."""
        if self._spool_store is None:
            from engine.store import Store  # lazily: keeps duckdb out of start-up

            settings = self.settings
            self._spool_store = Store(settings.db_path, settings.spool_dir,
                                      clock=self.clock, read_only=self.read_only,
                                      flush_seconds=settings.server.log_flush_seconds,
                                      recover=False, notify=settings.notify,
                                      url=settings.store_url if settings.store_is_postgres
                                      else None, pool_size=settings.store.pool_size,
                                      statement_timeout=settings.store.statement_timeout_seconds)
            self._spool_store.on_outbox_written(self._outbox_written)
            if not self.read_only:  # every audit head is anchored outside the database
                self._spool_store.audit_anchor = self.monitor_log.anchor
        return self._spool_store

    def start_serving(self) -> None:
        """Get ready to serve without blocking the caller (the API's lifespan, on the loop).

        The spool is ready at once, so predictions are logged from the first request; the
        store is opened (migrations, spool recovery, pending champion changes) on a
        background thread that retries while another process holds the file.
        """
        if self.read_only or self._opener is not None:
            return
        self._hold_serving_lock()
        with self._store_lock:
            self._unopened_store()

        def open_store() -> None:
            delay = 1.0
            while self._store is None and not self._closing:
                try:
                    _ = self.store
                    self._open_error = ""
                except SpamopsError as exc:
                    self._open_error = str(exc).splitlines()[0] if str(exc) else type(
                        exc).__name__
                    logger.warning("history store not open yet, retrying in %.0f s: %s",
                                   delay, exc)
                    time.sleep(delay)
                    delay = min(delay * 2, 30.0)

        self._opener = threading.Thread(target=open_store, daemon=True,
                                        name="spamops-open-store")
        self._opener.start()

    def wait_until_open(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``start_serving``'s store to open (off the loop);
        returns whether it is open. The API's start-up gives it a moment, no more."""
        if self._opener is not None:
            self._opener.join(timeout)
        return self._store is not None

    @property
    def champion_switch(self) -> ChampionSwitch:
        """Moves the champion aliases as recorded intents (``engine.champion_switch``)."""
        if self._switch is None:
            from engine.champion_switch import ChampionSwitch

            self._switch = ChampionSwitch(
                store=self._store or self.store, registry=self.registry, clock=self.clock,
                lock_path=self.settings.home / "locks" / "champion.lock",
                on_moved=self._aliases_moved, log=self.monitor_log.write)
        return self._switch

    def _aliases_seen(self, aliases: Aliases) -> None:
        """The aliases are ``aliases`` now: caches keyed by version keep only theirs."""
        self.registry.retain(aliases)
        if self._drift_cache is not None:
            self._drift_cache.retain(set(aliases.values()))

    def _aliases_moved(self, aliases: Aliases) -> None:
        """This process moved the aliases: serve the new champion, evict the rest."""
        self._aliases_seen(aliases)
        self.champion.refresh()

    def _record_config_change(self, store: Store) -> None:
        """Audit the effective configuration when it differs from the last one recorded.

        Settings are read once per process, so a change shows when a writer starts with other
        values; the record lists each changed key with its old and new value and its source.
        """
        from engine.config import describe

        current = {v.key: {"value": v.value, "source": v.source}
                   for v in describe(self.settings) if v.key != "api_key"}
        last = store.last_audit("config.effective")
        previous = last.details.get("values", {}) if last is not None else {}
        changed = {key: {"old": previous.get(key, {}).get("value"), "new": now["value"],
                         "source": now["source"]}
                   for key, now in current.items()
                   if previous.get(key, {}).get("value") != now["value"]}
        if last is not None and not changed:
            return
        reasoning = ("First configuration recorded for this data home." if last is None else
                     "Configuration changed: " + ", ".join(
                         f"{k} {c['old']!r} -> {c['new']!r} ({c['source']})"
                         for k, c in changed.items()) + ".")
        store.append_audit(self.settings.operator_name, "config.effective", "config",
                           {"values": current, "changed": changed if last else {}}, reasoning)

    def _hold_serving_lock(self) -> None:
        """Hold a shared flock on ``<home>/locks/serving.lock`` while this process serves.

        Any number of servers share it; ``spamops restore`` asks for it exclusively, so a
        home that an API serves from is never swapped under it (``engine.backup``). The kernel
        drops it when the process dies.
        """
        import fcntl

        path = self.settings.home / "locks" / SERVING_LOCK
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._serving_fd = fd

    def close(self) -> None:
        """Release resources held by this process (ingest the prediction spool).

        Stops the notification sender; a process without one (a CLI command) that enqueued
        notifications makes one delivery pass first, so `spamops retrain` from cron tells its
        receivers at once (what fails waits in the outbox for the next sender).
        """
        self._close_notifications()
        self._closing = True
        if self._serving_fd is not None:
            os.close(self._serving_fd)  # drops the shared serving lock
            self._serving_fd = None
        if self._opener is not None:
            self._opener.join(timeout=1.0)  # it stops at its next retry; daemon either way
        store = self._store or self._spool_store
        self._store = self._spool_store = None
        if store is not None:
            store.close()

    def _store_exists(self) -> bool:
        """Whether there is a history to read: the DuckDB file; a PostgreSQL store always
        (its reads say so if the schema is not set up yet)."""
        return (self._store is not None or self.settings.store_is_postgres
                or self.settings.db_path.exists())

    def _registry_exists(self) -> bool:
        return (self.settings.mlflow_tracking_uri is not None
                or (self.settings.home / "mlflow.db").exists())

    @property
    def monitor_log(self) -> MonitorLog:
        """The timestamped monitoring log (``<home>/logs/monitor.log``)."""
        if self._monitor_log is None:
            from engine.monitoring import MonitorLog

            self._monitor_log = MonitorLog(self.settings.logs_dir / "monitor.log", self.clock)
        return self._monitor_log

    def _actor(self, actor: str | None) -> str:
        return actor or self.settings.operator_name

    def audit(self, action: str, subject: str, details: dict[str, Any], reasoning: str,
              actor: str | None = None, events: Sequence[NotifyEvent] = ()) -> AuditRecord:
        """Append a record to the audit trail (actor defaults to the operator name);
        ``events`` go to the webhook outbox in the same transaction."""
        return self.store.append_audit(actor or self.settings.operator_name, action, subject,
                                       details, reasoning, events=events)

    def scheduler_holder(self) -> HolderInfo | None:
        """Which process holds the scheduler of this history, if any (on any host, with a
        PostgreSQL store).

        On DuckDB: the holder file, read at once. On PostgreSQL: the lock's session in
        ``pg_locks``, one short query, remembered for ``HOLDER_CACHE_SECONDS`` so a busy
        ``/health`` costs the server one query a second at most.
        """
        lock = self.scheduler_lock()
        if not self.settings.store_is_postgres:
            return lock.holder()
        seen = self._holder_seen
        now = time.monotonic()
        if seen is not None and now - seen[0] < HOLDER_CACHE_SECONDS:
            return seen[1]
        holder = lock.holder()
        self._holder_seen = (now, holder)
        return holder

    def scheduler_lock(self) -> HolderLock:
        """The scheduler's single-holder lock: per data home (``flock``) on DuckDB; on a
        PostgreSQL store, an advisory lock shared by every host of that history, whose session
        is dropped within two thirds of ``monitoring.takeover_seconds`` after its host
        vanished (the rest is the standby hosts' retry interval)."""
        from engine.scheduling import AdvisorySchedulerLock, SchedulerLock

        lock_dir = self.settings.home / "locks"
        if not self.settings.store_is_postgres:
            return SchedulerLock(lock_dir)
        with self._store_lock:  # the lock needs the store's URL, not an opened store
            store = self._store or self._unopened_store()
        return AdvisorySchedulerLock(
            store, lock_dir,
            dead_peer_seconds=self.settings.monitoring.takeover_seconds * 2 / 3)
