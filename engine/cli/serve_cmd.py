"""``spamops serve``: run the REST API (``server/``) under uvicorn.

The server package is imported inside the command only: the CLI is where UIs are put together,
and the rest of the command tree must not pay for FastAPI (or depend on it) at start-up.

The port is bound before anything is announced: a busy port is one line and exit code 4,
never a banner followed by uvicorn's traceback. One worker serves in this process, on that
very socket. With ``--workers N`` uvicorn starts N processes that share
the socket; each imports ``server.main:app_from_env`` and builds its own ``Services`` (the
store takes several writer processes: each has its own prediction spool). The parent
exports the data home and a scratch directory for the workers' Prometheus counters.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

import click

from engine.cli._common import home_of, services_of, settings_of
from engine.errors import Busy, ConfigError

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

    home_of(ctx)
    settings = settings_of(ctx)
    bind_host = host or settings.server.host
    bind_port = settings.server.port if port is None else port
    count = settings.server.workers if workers is None else workers
    if bind_host not in _LOOPBACK and settings.api_key is None:
        click.echo(f"warning: serving on {bind_host} without SPAMOPS_API_KEY: predictions and "
                   "feedback are open to the network; control endpoints stay disabled",
                   err=True)
    sock = bind_socket(bind_host, bind_port)
    plural = "s" if count > 1 else ""
    options: dict[str, Any] = {"host": bind_host, "port": bind_port, "log_config": None,
                               "access_log": False, "server_header": False}
    if count == 1:
        from server.main import create_app

        services = services_of(ctx)
        services.isolate_heavy_work = True  # a check's or retrain's peak leaves with its child
        app = create_app(services)
        click.echo(f"spamops API on http://{bind_host}:{bind_port} (docs: /docs, 1 worker); "
                   "Ctrl-C stops", err=True)
        # uvicorn re-raises the signal that stopped it into the handler it found: make that
        # a no-op, so a requested stop (Ctrl-C, SIGTERM) exits 0 like every other server.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
        return
    sock.close()  # uvicorn's process manager binds its own shared socket for the workers
    click.echo(f"spamops API on http://{bind_host}:{bind_port} (docs: /docs, {count} "
               f"worker{plural}); Ctrl-C stops", err=True)
    with _worker_environment(str(settings.home.resolve())):
        uvicorn.run("server.main:app_from_env", factory=True, workers=count, **options)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket bound to ``host:port``, as uvicorn binds it
    (``SO_REUSEADDR``, IPv6 for an address with a colon).

    Raises:
        Busy: the port is in use (exit code 4).
        ConfigError: the address cannot be bound here (not local, no permission).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Busy(f"port {port} on {host} is already in use: stop what serves there "
                       "or pick another with --port") from None
        raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


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
