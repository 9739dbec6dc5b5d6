"""History commands: ``setup-database``, ``sql``, ``export``, ``audit verify|list``,
``store migrate --to postgresql://...``, ``store reingest FILE``.

Each command goes through ``Services`` (readers open the store read-only, so they work while
the API and the monitor write). Nothing here imports duckdb or pandas: the store is loaded
inside the commands, through ``Services``.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from engine.cli._common import emit_json, home_of, json_option, services_of, settings_of
from engine.errors import InvalidInput

DEFAULT_SQL_LIMIT = 1000
"""Rows ``spamops sql`` prints unless told otherwise; a notice says when more were left out."""

MAX_CELL = 60
"""Widest cell of the text table; longer values are cut with an ellipsis."""


@click.command("setup-database")
@json_option
@click.pass_context
def setup_database(ctx: click.Context, as_json: bool) -> None:
    """Create or upgrade the history, DuckDB or PostgreSQL (store.url); safe to run again."""
    services = services_of(ctx, create_home=True)
    version = services.setup_database()
    path = services.store.url if services.settings.store_is_postgres else \
        services.settings.db_path
    if as_json:
        emit_json({"database": str(path), "schema_version": version})
        return
    click.echo(f"database ready: {path} (schema version {version})")


@click.command("sql")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: columns, rows.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header line.")
@click.option("--limit", type=click.IntRange(min=0), default=DEFAULT_SQL_LIMIT,
              show_default=True, help="Most rows to print; 0 prints all.")
@click.pass_context
def sql(ctx: click.Context, query: str, as_json: bool, as_csv: bool, limit: int) -> None:
    """Run a read-only QUERY over the history (tables and v_* views; see the README).

    Example: spamops sql "SELECT * FROM v_daily_accuracy ORDER BY day DESC LIMIT 7"
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    result = services_of(ctx, read_only=True).sql(query, None if limit == 0 else limit + 1)
    rows = result.rows
    truncated = limit > 0 and len(rows) > limit
    if truncated:
        rows = rows[:limit]
    if as_json:
        emit_json({"columns": result.columns,
                   "rows": [dict(zip(result.columns, row, strict=True)) for row in rows],
                   "truncated": truncated})
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_csv_cell(v) for v in row] for row in rows])
    else:
        click.echo(render_table(result.columns, rows))
        click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", err=True)
    if truncated:
        click.echo(f"only the first {limit} rows are shown; use --limit 0 for all", err=True)


def _text_cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def _csv_cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else value


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as an aligned text table (numbers right-aligned)."""
    cells = [[_text_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
               for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


@click.command("export")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@json_option
@click.pass_context
def export(ctx: click.Context, directory: Path, as_json: bool) -> None:
    """Write the history to DIRECTORY as Parquet, one folder per table, partitioned by day."""
    services = services_of(ctx, read_only=True)
    try:
        written = services.export(directory)
    except OSError as exc:
        where = exc.filename or directory
        raise InvalidInput(f"cannot export into {where}: {exc.strerror or exc}") from None
    if as_json:
        emit_json({"directory": str(directory), "tables": [p.name for p in written]})
        return
    if not written:
        click.echo("nothing to export: the history is empty")
        return
    for path in written:
        click.echo(f"{path.name:<18} {path}")


@click.group("audit")
def audit_group() -> None:
    """Inspect the hash-chained audit trail."""


@audit_group.command("verify")
@click.option("--metrics-url", metavar="URL",
              help="Also check against the spamops_audit_records_total counter of a running "
                   "API, e.g. http://127.0.0.1:8000/metrics.")
@json_option
@click.pass_context
def audit_verify(ctx: click.Context, metrics_url: str | None, as_json: bool) -> None:
    """Check the keyed hash chain and its anchors (the monitor log, and --metrics-url);
    exit 1 and name the first altered, removed or rewritten record if broken."""
    count = _audit_counter(metrics_url) if metrics_url else None
    result = services_of(ctx, read_only=True).verify_audit(metrics_count=count)
    if as_json:
        emit_json(result)
    elif result.ok or result.key_missing:
        click.echo(result.message)
    else:
        click.echo(f"audit chain BROKEN at record {result.first_bad_seq}: {result.message}")
    if not result.ok:
        sys.exit(1)


def _audit_counter(url: str) -> int:
    """``spamops_audit_records_total`` as served at ``url`` (Prometheus text format)."""
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--metrics-url")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as exc:
        raise click.ClickException(f"cannot read {url}: {exc}") from None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "spamops_audit_records_total":
            return int(float(value))
    raise click.ClickException(f"{url} serves no spamops_audit_records_total counter")


@audit_group.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the newest records to show.")
@json_option
@click.pass_context
def audit_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Show the newest audit records (time, actor, action, subject, reasoning)."""
    records = services_of(ctx, read_only=True).audit_records(limit)
    if as_json:
        emit_json(records)
        return
    if not records:
        click.echo("the audit trail is empty")
        return
    click.echo(render_table(
        ["seq", "time", "actor", "action", "subject", "reasoning"],
        [(r.seq, r.ts, r.actor, r.action, r.subject, r.reasoning) for r in records]))


@click.group("store")
def store_group() -> None:
    """Where the history lives: move a single-machine DuckDB home to PostgreSQL; put rejected
    spool rows back."""


@store_group.command("migrate")
@click.option("--to", "url", required=True, metavar="URL",
              help="postgresql://USER@HOST:PORT/DB of a new, empty database.")
@json_option
@click.pass_context
def store_migrate(ctx: click.Context, url: str, as_json: bool) -> None:
    """Copy this home's DuckDB history, audit trail and spool into an empty PostgreSQL
    database, in one transaction (a failure leaves the target as it was).

    Stop the API and the monitor on this home first. A target holding any data is refused.
    Afterwards set store.url (SPAMOPS_STORE__URL) to URL on every host and copy the data home
    key, spamops.key, to each: the audit chain is keyed with it. Progress goes to stderr.
    """
    if not url.startswith(("postgresql://", "postgres://")):
        raise InvalidInput(f"--to must be a postgresql:// URL, not {url.split(':', 1)[0]!r}")
    home_of(ctx)
    settings = settings_of(ctx)
    if settings.store_is_postgres:
        raise InvalidInput("this home's store.url is PostgreSQL already: store migrate copies "
                           "a DuckDB history (unset store.url to point at the DuckDB file)")
    if not settings.db_path.exists():
        raise InvalidInput(f"no DuckDB history at {settings.db_path}: nothing to migrate")
    from engine.clock import SystemClock  # lazily: the store loads duckdb and psycopg
    from engine.store import Store
    from engine.store.transfer import migrate_home

    def progress(table: str, copied: int, total: int) -> None:
        click.echo(f"{table}: {copied:,}/{total:,} rows", err=True)

    source = Store(settings.db_path, settings.spool_dir, clock=SystemClock(), recover=False)
    target = Store(settings.db_path, settings.spool_dir, clock=SystemClock(), url=url,
                   recover=False)
    try:
        report = migrate_home(source, target, progress)
    finally:
        source.close()
        target.close()
    if as_json:
        emit_json(report)
        return
    rows = sum(report.tables.values())
    click.echo(f"copied {rows:,} rows in {len(report.tables)} tables to {report.target} in "
               f"{report.seconds:.1f} s (schema version {report.schema_version}; "
               f"{report.spool_rows} spooled predictions recovered on the way)")
    click.echo(f"audit chain on the target: {report.audit.message}")
    click.echo(f"next: set store.url = \"{report.target}\" (SPAMOPS_STORE__URL) on every "
               "host, and copy spamops.key to each")


@store_group.command("reingest")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@click.pass_context
def store_reingest(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Put the rows of a rejected spool file (<home>/spool/rejected/NAME) into the history,
    once the cause is fixed (see its NAME.reason.txt; edit the JSON lines if a row must
    change). Exactly once: the same content added again adds nothing. The file is then
    renamed NAME.reingested; a row the store still refuses adds nothing and says why."""
    services = services_of(ctx)
    added = services.store.reingest(file)
    services.audit("spool.reingested", file.name, {"file": str(file), "rows": added},
                   f"{added} rejected spool rows put back into the history from {file.name}")
    if as_json:
        emit_json({"file": str(file), "rows_added": added})
        return
    click.echo(f"{added} rows added to the history from {file} (renamed {file.name}"
               ".reingested)" if added else f"nothing added: the rows of {file} were "
               "re-ingested before (renamed it .reingested)")


commands: list[click.Command] = [setup_database, sql, export, audit_group, store_group]
