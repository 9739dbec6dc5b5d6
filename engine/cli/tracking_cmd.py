"""``spamops mlflow-server``: the MLflow tracking server several hosts share (docs/deploy.md).

The command line itself is built by ``engine.tracking_server``; this module parses options,
creates the folders or the PostgreSQL schema the server needs, and replaces itself with the
server (``os.execve``: signals and the exit code are the server's own).
"""

from __future__ import annotations

import os

import click

from engine.cli._common import emit_json, home_of, settings_of


def _store_url(ctx: click.Context) -> str | None:
    """The configured PostgreSQL store URL (``store.url``), None for a DuckDB store."""
    settings = settings_of(ctx)
    return settings.store_url if settings.store_is_postgres else None


@click.command("mlflow-server")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 to serve other hosts (then set --allowed-hosts).")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--backend-store-uri", default=None, metavar="URL",
              help="MLflow's database. Default: the PostgreSQL store's database (schema "
                   "mlflow) when store.url is postgresql://..., else "
                   "<home>/mlflow-server/mlflow.db (sqlite).")
@click.option("--artifacts-destination", default=None, metavar="DIR|URI",
              help="Where the server keeps model artifacts (served to every host through "
                   "it). Default: <home>/mlflow-server/artifacts.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Server worker processes.")
@click.option("--allowed-hosts", default=None, metavar="LIST",
              help="Host headers the server accepts, comma-separated (e.g. "
                   "'mlflow:5000,host1.example:5000'); MLflow's default is loopback and "
                   "private IPs only.")
@click.option("--dry-run", is_flag=True,
              help="Print the command line (password masked) instead of starting it.")
@click.option("--json", "as_json", is_flag=True,
              help="With --dry-run: print the command as JSON.")
@click.pass_context
def mlflow_server(ctx: click.Context, host: str, port: int, backend_store_uri: str | None,
                  artifacts_destination: str | None, workers: int, allowed_hosts: str | None,
                  dry_run: bool, as_json: bool) -> None:
    """Run the MLflow tracking server that several spamops hosts share.

    Every host then sets mlflow_tracking_uri (SPAMOPS_MLFLOW_TRACKING_URI) to
    http://THIS-HOST:PORT: runs, versions and the champion/previous aliases live in the
    server's database, and model artifacts are uploaded to and downloaded from the server
    (--serve-artifacts). Telemetry is off. Runs in the foreground until stopped.
    """
    from engine.tracking_server import (
        default_artifacts_destination,
        default_backend_store_uri,
        ensure_schema,
        is_postgres,
        mask_password,
        prepare_local_files,
        server_command,
    )

    store_url = _store_url(ctx)
    uses_store = backend_store_uri is None and is_postgres(store_url)
    home = settings_of(ctx).home
    command = server_command(
        backend_store_uri=backend_store_uri or default_backend_store_uri(store_url, home),
        artifacts_destination=(artifacts_destination
                               or str(default_artifacts_destination(home))),
        host=host, port=port, workers=workers, allowed_hosts=allowed_hosts)
    if dry_run:
        if as_json:
            emit_json({"argv": command.shown_argv(), "command": command.shown()})
        else:
            click.echo(command.shown())
        return
    if (backend_store_uri is None and not uses_store) or artifacts_destination is None:
        home_of(ctx, create=True)  # the sqlite file or the artifacts live in the home
    prepare_local_files(command)
    ensure_schema(command.backend_store_uri)
    click.echo(f"mlflow server on http://{host}:{port} (backend "
               f"{mask_password(command.backend_store_uri)}, artifacts "
               f"{command.artifacts_destination})", err=True)
    os.execve(command.argv[0], list(command.argv), dict(command.env))

commands: list[click.Command] = [mlflow_server]
