"""Backups of a data home that are consistent while services run, verified, and restorable.

A backup is a folder that is itself a complete data home (``spamops --home DIR ...`` works on
it) plus ``backup.json``, its manifest: the source, the time, the row count of every history
table, the registry's versions and the sha256 of every file. It is written in an order that
makes the parts agree without stopping anyone:

1. **spool** segments (predictions not yet in the history): copied first, so a segment that
   is ingested during the backup is in the copy twice, and the copied history's
   ``spool_segments`` row makes the restored home skip it (exactly once, as after a crash);
2. **history**: ``Store.copy_database_to`` (DuckDB ``COPY FROM DATABASE`` under an exclusive
   hold of the file; writers wait with their usual back-off);
3. **registry**: sqlite's online backup API (``sqlite3.Connection.backup``), a consistent
   snapshot even while MLflow writes;
4. **artifacts**, after the registry, so every version the copied registry knows has its
   complete model files (MLflow writes the files before it registers the version);
5. everything else in the home (dataset and split, logs, key files such as
   ``spamops.key``, the data home key), except ``locks/``, ``run/`` and ``cache/`` (rebuilt on use).

The copied registry is re-pointed at the backup's own ``mlartifacts`` (``engine.relocation``),
then verified: the copy's table counts equal those taken at copy time, its audit chain
verifies, the registry passes ``PRAGMA integrity_check`` and every version's files exist.
Restore checks every checksum first, stages the copy beside the target, re-points it, and
only then swaps it in; a replaced home is kept aside, never deleted.

The backup folder is created ``0700``: it holds the texts and the keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.errors import Busy, SpamopsError
from engine.locks import FileLock
from engine.relocation import repoint_registry

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.store import Store

MANIFEST = "backup.json"
FORMAT = "spamops-backup"
FORMAT_VERSION = 1
HISTORY_FILE = "spamops.duckdb"
REGISTRY_FILE = "mlflow.db"
ARTIFACTS = "mlartifacts"
SPOOL = "spool"
SKIPPED = frozenset({"locks", "cache", "run", MANIFEST})
"""Top-level entries never copied: process locks, rebuildable caches, runtime status
(`spamops up`), a stray manifest."""
_SIDE_FILES = (".wal", "-journal", "-wal", "-shm")
"""Database side files: the consistent copies above already contain what they hold."""


class BackupError(SpamopsError):
    """A backup or restore that cannot be done or does not verify (exit code 1)."""


class BackupTargetError(BackupError):
    """The folder to write into is not acceptable: not empty without --force, inside the
    home, a file (exit code 2, a usage error)."""

    exit_code = 2


@dataclass(frozen=True)
class BackupReport:
    """A written, verified backup (also what ``backup.json`` holds, less the checksums)."""

    directory: Path
    source: Path
    created_at: datetime
    tables: dict[str, int]
    """Rows per history table at copy time, equal to the copy's (verified)."""
    model_versions: int
    files: int
    bytes: int
    audit_records: int
    seconds: float
    checks: tuple[str, ...] = field(default_factory=tuple)
    """What was verified, one short line each."""


@dataclass(frozen=True)
class RestoreReport:
    """A restored home."""

    home: Path
    backup: Path
    backup_created_at: str
    files: int
    tables: dict[str, int]
    replaced: Path | None
    """Where the home that was there before now is (kept, not deleted), if any."""
    checks: tuple[str, ...] = field(default_factory=tuple)


# Files ------------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)  # keeps the mode: key files stay 0600


def _copy_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.is_symlink():
            _copy_file(path, target / path.relative_to(source))


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _regular(path: Path) -> bool:
    """A regular file, not a FIFO/directory/link left in the spool (opening a FIFO blocks);
    recovery refuses those (``engine.store.spool_files``)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _in_use(path: Path) -> bool:
    return FileLock(path).in_use()


def home_in_use(home: Path) -> str | None:
    """Why ``home`` looks in use by a running spamops process, or None."""
    if _in_use(home / "locks" / "scheduler.lock"):
        return "its scheduler is running (console, monitor or demo)"
    if _in_use(home / "locks" / "retrain.lock"):
        return "a retrain is running"
    if _in_use(home / "locks" / "serving.lock"):  # engine.services.SERVING_LOCK
        return "an API serves from it (serve, console --serve)"
    spool = home / SPOOL
    if spool.is_dir() and any(_in_use(p) for p in spool.glob("*.jsonl")
                                if _regular(p)):
        return "a process is logging predictions into it (serve, console --serve)"
    return None


# Registry ---------------------------------------------------------------------------------
def _backup_registry(source: Path, target: Path) -> None:
    """sqlite's online backup: a consistent snapshot while MLflow may write."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def check_registry(db: Path, artifacts: Path) -> int:
    """Integrity of a registry file and its artifacts; returns the number of model versions.

    Raises:
        BackupError: the file is damaged or a version's files are missing.
    """
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("PRAGMA integrity_check").fetchone()
        if not row or row[0] != "ok":
            raise BackupError(f"{db} failed sqlite's integrity check: {row[0] if row else '?'}")
        versions = con.execute("SELECT name, version, storage_location FROM model_versions"
                               ).fetchall()
    except sqlite3.Error as exc:
        raise BackupError(f"{db} is not a readable MLflow registry: {exc}") from None
    finally:
        con.close()
    root = str(artifacts.resolve())
    for name, version, location in versions:
        path = str(location or "").removeprefix("file://")
        if not path.startswith(root + "/") or not (Path(path) / "MLmodel").is_file():
            raise BackupError(f"model {name} version {version}: its files are not under "
                              f"{artifacts} ({location})")
    return len(versions)


# Backup -----------------------------------------------------------------------------------
def backup_home(settings: Settings, store: Store, target: Path) -> BackupReport:
    """Write a verified backup of the home of ``settings`` into the new folder ``target``.

    Raises:
        BackupError: ``target`` is not empty, lies inside the home, or did not verify.
        StoreBusy: the history stayed locked by another process (see ``Store``).
    """
    started = time.monotonic()
    home = settings.home.resolve()
    target = target.resolve()
    if target == home or home in target.parents:
        raise BackupTargetError(f"the backup folder {target} must not be inside the data home "
                                f"{home}")
    if target.exists() and not _is_empty_dir(target):
        raise BackupTargetError(f"{target} is not empty: back up into a new or empty folder")
    if settings.store_is_postgres:
        raise BackupError("the history is in PostgreSQL (store.url): back it up with pg_dump "
                          "(docs/deploy.md); `spamops backup` copies a DuckDB home")
    if not settings.db_path.exists():
        raise BackupError(f"{home} has no history yet ({settings.db_path}): nothing to back up")
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o700)
    created_at = datetime.now().astimezone()
    spool = settings.spool_dir
    if spool.is_dir():  # 1. spool first (see the module docstring)
        for segment in sorted(p for p in spool.glob("*.jsonl") if _regular(p)):
            with contextlib.suppress(FileNotFoundError):  # ingested meanwhile: in the history
                _copy_file(segment, target / SPOOL / segment.name)
    (target / SPOOL).mkdir(exist_ok=True)
    tables = store.copy_database_to(target / HISTORY_FILE)  # 2. history
    registry = home / REGISTRY_FILE
    if registry.exists():  # 3. registry, then 4. artifacts
        _backup_registry(registry, target / REGISTRY_FILE)
        if settings.artifacts_dir.is_dir():
            _copy_tree(settings.artifacts_dir, target / ARTIFACTS)
        repoint_registry(target / REGISTRY_FILE, target / ARTIFACTS)
    for entry in sorted(home.iterdir()):  # 5. the rest
        if entry.name in SKIPPED or entry.name in {HISTORY_FILE, REGISTRY_FILE, ARTIFACTS,
                                                   SPOOL} or entry.name.endswith(_SIDE_FILES):
            continue
        if entry.is_dir() and not entry.is_symlink():
            _copy_tree(entry, target / entry.name)
        elif entry.is_file():
            _copy_file(entry, target / entry.name)
    checks, versions, audit_records = _verify_copy(target, tables)
    paths = [p for p in sorted(target.rglob("*")) if p.is_file() and p.name != MANIFEST]
    files = {str(p.relative_to(target)): {"sha256": sha256_of(p), "bytes": p.stat().st_size}
             for p in paths}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "spamops_version": __version__,
        "created_at": created_at.isoformat(timespec="seconds"), "source": str(home),
        "tables": tables, "model_versions": versions, "audit_records": audit_records,
        "files": files,
    }
    partial = target / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    partial.replace(target / MANIFEST)  # the manifest last: no manifest, no backup
    return BackupReport(
        directory=target, source=home, created_at=created_at.replace(tzinfo=None),
        tables=tables, model_versions=versions, files=len(files),
        bytes=sum(p.stat().st_size for p in paths), audit_records=audit_records,
        seconds=round(time.monotonic() - started, 3), checks=tuple(checks))


def _verify_copy(directory: Path, expected: dict[str, int]) -> tuple[list[str], int, int]:
    """Counts, audit chain and registry of the home copy in ``directory``."""
    from engine.clock import SystemClock
    from engine.store import Store

    copy = Store(directory / HISTORY_FILE, directory / SPOOL, clock=SystemClock(),
                 read_only=True)
    found = copy.table_counts()
    if found != expected:
        differing = sorted(t for t in set(found) | set(expected)
                           if found.get(t) != expected.get(t))
        raise BackupError(f"the copied history does not match the source in: "
                          f"{', '.join(differing)}")
    verification = copy.verify_audit()
    if not verification.ok:
        raise BackupError(f"the copied audit trail does not verify: {verification.message}")
    checks = [f"history: {len(found)} tables, row counts equal to the source's",
              f"audit chain: {verification.checked} records verify"]
    versions = 0
    if (directory / REGISTRY_FILE).exists():
        versions = check_registry(directory / REGISTRY_FILE, directory / ARTIFACTS)
        checks.append(f"registry: integrity ok, files of all {versions} versions present")
    return checks, versions, verification.checked


# Restore ----------------------------------------------------------------------------------
def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the backup in ``directory``.

    Raises:
        BackupError: no manifest (not a backup, or one that never finished), or unreadable.
    """
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} is not a finished spamops backup (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} is not readable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a spamops backup manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise BackupError(f"{path} was written by a newer spamops "
                          f"({manifest.get('spamops_version')}); upgrade to restore it")
    return manifest


def verify_checksums(directory: Path, manifest: dict[str, Any]) -> int:
    """Check every file of the manifest; returns how many.

    Raises:
        BackupError: naming the first missing or altered file.
    """
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    for name, expected in sorted(files.items()):
        path = directory / name
        if not path.is_file():
            raise BackupError(f"backup file {path} is missing")
        if sha256_of(path) != expected.get("sha256"):
            raise BackupError(f"backup file {path} does not match its checksum in {MANIFEST}")
    return len(files)


def restore_home(backup: Path, home: Path, *, force: bool = False,
                 verified: dict[str, Any] | None = None) -> RestoreReport:
    """Make ``home`` a copy of the verified backup in ``backup``.

    Args:
        backup: a folder written by ``backup_home``.
        home: the data home to restore into; it must be missing or empty unless ``force``,
            and it must not be in use. A non-empty home is moved aside, not deleted.
        verified: the manifest, when the caller already ran ``verify_checksums`` on it.

    Raises:
        BackupError: not a backup, a checksum differs, or the target is not free.
    """
    backup = backup.resolve()
    home = home.resolve()
    manifest = verified or read_manifest(backup)
    n_files = len(manifest.get("files", {})) if verified else verify_checksums(backup, manifest)
    checks = [f"checksums: all {n_files} files match the manifest"]
    if home == backup or backup in home.parents or home in backup.parents:
        raise BackupTargetError("restore into a data home that is neither the backup folder "
                                "nor contains it")
    occupied = home.exists() and not _is_empty_dir(home)
    if home.exists() and not home.is_dir():
        raise BackupTargetError(f"{home} is a file, not a data home folder")
    if occupied and not force:
        raise BackupTargetError(f"{home} is not empty; pass --force to move it aside and "
                                "restore")
    if occupied and (reason := home_in_use(home)):
        raise Busy(f"{home} is in use: {reason}; stop it first")
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    staging = home.parent / f".{home.name}.restoring-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name in manifest.get("files", {}):
            _copy_file(backup / name, staging / name)
        (staging / SPOOL).mkdir(exist_ok=True)
        if (staging / REGISTRY_FILE).exists():
            repoint_registry(staging / REGISTRY_FILE, home / ARTIFACTS)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replaced: Path | None = None
    if home.exists():
        if occupied:
            replaced = home.parent / f"{home.name}.pre-restore-{stamp}"
            home.rename(replaced)
        else:
            home.rmdir()
    staging.rename(home)
    if (home / REGISTRY_FILE).exists():
        versions = check_registry(home / REGISTRY_FILE, home / ARTIFACTS)
        checks.append(f"registry: integrity ok, files of all {versions} versions present")
    return RestoreReport(home=home, backup=backup,
                         backup_created_at=str(manifest.get("created_at", "")),
                         files=n_files, tables=dict(manifest.get("tables", {})),
                         replaced=replaced, checks=tuple(checks))
