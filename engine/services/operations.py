"""Operating the home: backup, restore, retention, and what ``/health`` reports.

Owns the audited backup and restore steps around ``engine.backup``, the audited retention
prune around ``engine.retention`` and the compaction of the history file after it, and
``health`` (from state kept by background work: the champion cache and ``StoreProbe``; it
never raises and never waits unless asked to). It must not copy or delete files itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.records import AuditVerification
from engine.services.core import ServicesBase
from engine.services.results import Health
from engine.serving import ChampionStatus

if TYPE_CHECKING:
    from engine.backup import BackupReport, RestoreReport
    from engine.retention import PruneReport
    from engine.store.backup import Compaction


class OperationsMixin(ServicesBase):
    """Backup, restore, retention and health."""


    def backup(self, target: Path) -> BackupReport:
        """Write a verified, consistent backup of this home into ``target`` (see
        ``engine.backup``); audited in this home."""
        from engine.backup import backup_home

        report = backup_home(self.settings, self.store, target)
        self.audit("home.backup", str(report.directory), {
            "tables": report.tables, "model_versions": report.model_versions,
            "files": report.files, "bytes": report.bytes},
            f"backup of {report.files} files written to {report.directory} and verified")
        return report

    def record_restore(self, report: RestoreReport) -> AuditVerification:
        """After ``engine.backup.restore_home``: upgrade the schema, ingest the restored
        spool, audit the restore, and verify the audit chain."""
        self.store.migrate()
        self.audit("home.restore", str(report.home), {
            "backup": str(report.backup), "backup_created_at": report.backup_created_at,
            "files": report.files, "replaced": str(report.replaced or "")},
            f"home restored from the backup of {report.backup_created_at}")
        return self.store.verify_audit()

    def prune(self, *, dry_run: bool = False, actor: str | None = None) -> PruneReport:
        """Apply the retention policy now (``engine.retention``); every prune (not a dry run)
        is audited, also one that found nothing to remove."""
        from engine import retention

        registry = self.registry if self._registry_exists() else None
        report = retention.prune(settings=self.settings, store=self.store, registry=registry,
                                 now=self.clock.now(), dry_run=dry_run)
        if not report.dry_run:
            self.audit("retention.prune", "predictions", {
                "cutoff": report.cutoff.isoformat(timespec="seconds"),
                "text_days": report.text_days, "texts_pruned": report.texts_pruned,
                "evaluation_texts_dropped": report.evaluation_texts_dropped,
                "references_dropped": list(report.references_dropped),
                "caches_dropped": report.caches_dropped, "changed": report.changed},
                f"{report.texts_pruned} texts older than {report.text_days} days replaced by "
                "their keyed hash; "
                f"drift references kept only for v{list(report.references_kept)}", actor)
        return report

    def compact_history(self, *, actor: str | None = None) -> Compaction:
        """Rewrite the history file with its live rows only (``Store.compact_in_place``), so
        the texts a prune replaced are gone from the file's bytes too; audited.

        Refused while the home is in use (a server, a scheduler, a retrain: they would hold
        or reopen the file mid-way); servers that start meanwhile wait for the serving lock.
        The rewritten file's audit chain is verified before it replaces the live one.

        Raises:
            Busy: the home is in use. StoreError: the rewrite failed (nothing changed).
        """
        from engine.backup import home_in_use
        from engine.errors import Busy, StoreError
        from engine.locks import FileLock
        from engine.services.core import SERVING_LOCK
        from engine.store import Store

        home = self.settings.home

        def busy(why: str) -> Busy:
            return Busy(f"cannot compact the history of {home} while {why}; stop it first")

        reason = home_in_use(home)
        if reason is not None:
            raise busy(reason)

        def verify(path: Path) -> None:
            copy = Store(path, self.settings.spool_dir, clock=self.clock, read_only=True,
                         key_path=self.store.key_path)
            verification = copy.verify_audit()
            if not verification.ok:
                raise StoreError(f"could not compact the history: the rewritten audit chain "
                                 f"does not verify ({verification.message}); nothing changed")

        serving = FileLock(home / "locks" / SERVING_LOCK)
        with serving.hold(refuse=lambda _note: busy("an API serves from it")):
            result = self.store.compact_in_place(check=verify)
        self.audit("history.compacted", str(self.settings.db_path), {
            "bytes_before": result.bytes_before, "bytes_after": result.bytes_after,
            "tables": result.tables, "rows": result.rows},
            f"history file rewritten with its live rows only ({result.bytes_before:,} -> "
            f"{result.bytes_after:,} bytes): pruned texts are gone from its free blocks",
            actor)
        return result

    def health(self, wait: float = 0.0) -> Health:
        """Champion serving, store answering, scheduler holder: never raises; never waits
        unless asked to.

        Everything comes from state kept by background work (the champion cache's checks,
        ``StoreProbe``), so ``/health`` answers at once even while another process holds the
        database or the registry is slow; a probe that is due starts in the background.

        Args:
            wait: seconds to wait for the store's first probe result, if there is none yet
                (the API's start-up; ``/health`` itself passes 0).
        """
        problems: list[str] = []
        version: int | None = None
        if not self._registry_exists():
            problems.append("no champion model yet: run `spamops train`")
        else:
            champion = self.champion.status()
            version = champion.version
            problems.extend(_champion_problems(champion))
        probe = self._store_probe.status(wait)
        problem = probe.problem
        if problem and self.settings.store_is_postgres and self._spool_store is not None:
            # A shared PostgreSQL store that does not answer (down, or a probe still waiting
            # on it: no other process can "hold" it): predictions go on into the spool.
            spool = self._spool_store.spool_status()
            if not spool.reachable or "busy" in problem:
                problem = f"degraded: store unreachable, {spool.spooled} predictions spooled"
        if problem:
            problems.append(problem)
        elif self._spool_store is not None:
            spool = self._spool_store.spool_status()
            if spool.failing:  # the store answers but refuses what the spool holds
                problems.append(f"degraded: predictions are not reaching the history "
                                f"({spool.failing}); {spool.spooled} predictions spooled")
        # The holder file is a few bytes on local disk, read without any lock: no waiting.
        # On PostgreSQL the holder is one short query, skipped while the probe finds the
        # server away (every lock session ended with it: there is no holder to show).
        on_postgres = self.settings.store_is_postgres
        holder = self.scheduler_holder() if probe.reachable or not on_postgres else None
        return Health(model_version=version, store_reachable=probe.reachable,
                      scheduler_holder=holder, problems=tuple(problems))


def _champion_problems(status: ChampionStatus) -> list[str]:
    """``/health`` lines for the champion cache's state (none when it serves the alias)."""
    if status.version is None:
        return [status.error or "the champion model is loading"]
    if status.wanted is not None and status.error:
        return [f"champion v{status.wanted} failed to load ({status.error}); still serving "
                f"v{status.version}, retrying in the background"]
    if status.error:
        return [f"champion check failed ({status.error}); still serving v{status.version}"]
    return []
