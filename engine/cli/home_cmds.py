"""Operating a data home: ``backup``, ``restore`` and ``prune`` (issue 18).

``backup`` and ``prune`` go through ``Services``; ``restore`` works on a home no process may
be using, through ``engine.backup``, then opens ``Services`` on the result to migrate it,
ingest the restored spool and audit the restore. What a backup holds and how it stays
consistent is in ``engine/backup.py``; the retention policy in ``engine/retention.py``.
"""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli._common import (
    confirm_or_refuse,
    emit_json,
    json_option,
    progress_echo,
    services_of,
    settings_of,
    to_jsonable,
    yes_option,
)
from engine.errors import ConfigError, InvalidInput, SpamopsError


@click.command("backup")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@json_option
@click.pass_context
def backup(ctx: click.Context, directory: Path, as_json: bool) -> None:
    """Write a consistent, verified copy of the data home into DIRECTORY (new or empty).

    Safe while `serve`, `monitor` or the console run: the history is copied by DuckDB under an
    exclusive hold (writers wait), the MLflow registry with sqlite's backup API, then the
    model files, the prediction spool, the dataset, logs and key files. DIRECTORY is itself
    a data home (`spamops --home DIRECTORY ...` works on it) with a manifest, backup.json,
    holding the row counts and the sha256 of every file.
    """
    report = services_of(ctx).backup(directory)
    if as_json:
        emit_json(report)
        return
    click.echo(f"backup written to {report.directory} in {report.seconds:.1f} s: "
               f"{report.files} files, {report.bytes / 1e6:.1f} MB, "
               f"{report.tables.get('predictions', 0)} predictions, "
               f"{report.model_versions} model versions")
    for check in report.checks:
        click.echo(f"  verified {check}")


@click.command("restore")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--force", is_flag=True,
              help="Restore into a non-empty data home, moving it aside (never deleted).")
@yes_option
@json_option
@click.pass_context
def restore(ctx: click.Context, directory: Path, force: bool, yes: bool, as_json: bool) -> None:
    """Make the data home a copy of the backup in DIRECTORY.

    Every file is checked against the backup's manifest first. A home that is not empty is
    refused unless --force, and then moved aside to HOME.pre-restore-TIMESTAMP; a home in use
    (scheduler, retrain or a process logging predictions) is refused. Asks first unless
    --yes, and refuses when stdin is not a terminal and --yes is absent.
    """
    from engine.backup import BackupTargetError, read_manifest, restore_home, verify_checksums

    settings = settings_of(ctx)
    home = settings.home.resolve()
    manifest = read_manifest(directory.resolve())
    verify_checksums(directory.resolve(), manifest)
    occupied = home.exists() and home.is_dir() and any(home.iterdir())
    if occupied and not force:  # before asking: a yes would not help
        raise BackupTargetError(f"{home} is not empty; pass --force to move it aside and "
                                "restore")
    what = (f"replace the data home {home} (it will be moved aside)" if occupied
            else f"restore into {home}")
    confirm_or_refuse(f"{what} with the backup of {manifest.get('created_at')} "
                      f"from {manifest.get('source')}?", yes=yes)
    if not as_json:
        progress_echo(f"restoring {directory} into {home}")
    report = restore_home(directory, home, force=force, verified=manifest)
    audit = services_of(ctx).record_restore(report)
    if not audit.ok:
        raise SpamopsError(f"restored, but the audit trail does not verify: {audit.message}")
    checks = (*report.checks, f"audit chain: {audit.checked} records verify")
    if as_json:
        emit_json({"home": report.home, "backup": report.backup,
                   "backup_created_at": report.backup_created_at, "files": report.files,
                   "tables": report.tables, "replaced": report.replaced, "checks": checks})
        return
    click.echo(f"restored {report.files} files from the backup of {report.backup_created_at} "
               f"into {report.home}")
    if report.replaced is not None:
        click.echo(f"the previous home was moved to {report.replaced}")
    for check in checks:
        click.echo(f"  verified {check}")


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; change nothing.")
@click.option("--compact", is_flag=True,
              help="Then rewrite the history file with its live rows only, so pruned texts "
                   "are gone from its bytes too (refused while a server, scheduler or retrain "
                   "runs).")
@json_option
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, compact: bool, as_json: bool) -> None:
    """Apply the retention policy now (the scheduler also runs it daily).

    Prediction texts older than retention.text_days (default 90) are replaced by a keyed hash
    (HMAC-SHA256 with a sub-key of HOME/spamops.key) and their length; metrics, labels, drift
    windows and decisions stay. Drift references are kept only for the champion (and a challenger
    waiting for approval); evaluation-set messages labelled before the cutoff are deleted.
    Each prune is audited (a dry run is not).

    A pruned text stays readable in the history file's free blocks (DuckDB marks them free,
    it does not erase them) until they are reused; --compact rewrites the file with its live
    rows only and swaps it in atomically, keeping the audit chain (verified first).
    """
    if compact and dry_run:
        raise InvalidInput("--compact rewrites the history file: it cannot be a dry run")
    services = services_of(ctx)
    if compact and services.settings.store_is_postgres:  # refused before anything is pruned
        raise ConfigError("--compact rewrites a DuckDB history file; on PostgreSQL, "
                          "`VACUUM FULL predictions` rewrites the table without dead rows")
    if not services.has_history():
        raise SpamopsError(f"{services.settings.home} has no history yet: nothing to prune")
    report = services.prune(dry_run=dry_run)
    compaction = services.compact_history() if compact else None
    if as_json:
        emit_json(report if compaction is None
                  else {**to_jsonable(report), "compaction": to_jsonable(compaction)})
        return
    verb = "would be" if dry_run else "were"
    click.echo(f"{report.texts_pruned} prediction texts older than {report.text_days} days "
               f"(before {report.cutoff:%Y-%m-%d %H:%M}) {verb} replaced by their hash "
               f"({report.texts_pruned_before} already were)")
    kept = ", ".join(f"v{v}" for v in report.references_kept) or "none"
    dropped = ", ".join(f"v{v}" for v in report.references_dropped) or "none"
    click.echo(f"drift references kept: {kept}; dropped: {dropped} "
               f"({report.caches_dropped} cached detectors)")
    if compaction is not None:
        click.echo(f"history file rewritten with its live rows only: "
                   f"{compaction.bytes_before:,} -> {compaction.bytes_after:,} bytes, "
                   f"{compaction.rows:,} rows in {compaction.tables} tables, audit chain "
                   "verified")


commands: list[click.Command] = [backup, restore, prune]
