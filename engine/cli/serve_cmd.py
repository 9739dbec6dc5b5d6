"""``spamops serve``: run the REST API (``server/``) under uvicorn.

The server package is imported inside the command only: the CLI is where UIs are put together,
and the rest of the command tree must not pay for FastAPI (or depend on it) at start-up.

One worker serves in this process. With ``--workers N`` uvicorn starts N processes that share
the socket; each imports ``server.main:app_from_env`` and builds its own ``Services`` (the
store takes several writer processes: each has its own prediction spool). The parent
exports the data home and a scratch directory for the workers' Prometheus counters.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import click

from engine.cli._common import services_of, settings_of

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@click.command("serve")
@click.option("--host", default=None,
              help="Address to bind (default server.host: 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="TCP port (default server.port: 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default server.workers: 1); one per CPU core serves "
                   "the most requests.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None,
          workers: int | None) -> None:
    """Serve predictions, feedback, drift, models, history and control over HTTP.

    OpenAPI docs at /docs. Control endpoints need SPAMOPS_API_KEY (header X-API-Key) and are
    disabled without it; predictions are open unless a key is configured. Ctrl-C stops.
    """
    # The CLI is where UIs are put together: uvicorn and the server are imported only here.
    import uvicorn

    settings = settings_of(ctx)
    bind_host = host or settings.server.host
    bind_port = settings.server.port if port is None else port
    count = settings.server.workers if workers is None else workers
    if bind_host not in _LOOPBACK and settings.api_key is None:
        click.echo(f"warning: serving on {bind_host} without SPAMOPS_API_KEY: predictions and "
                   "feedback are open to the network; control endpoints stay disabled",
                   err=True)
    plural = "s" if count > 1 else ""
    click.echo(f"spamops API on http://{bind_host}:{bind_port} (docs: /docs, {count} "
               f"worker{plural}); Ctrl-C stops", err=True)
    options: dict[str, Any] = {"host": bind_host, "port": bind_port, "log_config": None,
                               "access_log": False, "server_header": False}
    if count == 1:
        from server.main import create_app

        uvicorn.Server(uvicorn.Config(create_app(services_of(ctx)), **options)).run()
        return
    with _worker_environment(str(settings.home.resolve())):
        uvicorn.run("server.main:app_from_env", factory=True, workers=count, **options)


@contextlib.contextmanager
def _worker_environment(home: str) -> Iterator[None]:
    """What the worker processes inherit: the data home, and a fresh directory where
    ``prometheus_client`` keeps every worker's counters so ``/metrics`` adds them up."""
    from server.telemetry import MULTIPROCESS_ENV

    metrics_dir = tempfile.mkdtemp(prefix="spamops-metrics-")
    saved = {name: os.environ.get(name) for name in ("SPAMOPS_HOME", MULTIPROCESS_ENV)}
    os.environ["SPAMOPS_HOME"] = home
    os.environ[MULTIPROCESS_ENV] = metrics_dir
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(metrics_dir, ignore_errors=True)


commands: list[click.Command] = [serve]
