"""``spamops dashboard``: run the Streamlit dashboard (``web_dashboard/app.py``) headless.

The server runs in a child process, ``python -m web_dashboard.serve``: a launcher that warms
the process (the page's imports, MLflow's start-up, the registry read) before handing over to
``streamlit run``, so the first session after a start does not pay for them. It binds 127.0.0.1
with usage statistics off and Streamlit's own toolbar in viewer mode (no "Deploy" button: the
page is read-only); the data home reaches it as ``SPAMOPS_HOME``. The child runs in its own
process group through ``engine.supervisor.run_foreground``: Ctrl-C, SIGTERM and SIGHUP stop
it (SIGKILL after a grace period), and it dies with this process, so no server is left
holding the port. This module imports
nothing of Streamlit or of ``web_dashboard``: it only checks the package is there, so the
command tree stays cheap and the engine stays free of UI frameworks.
"""

from __future__ import annotations

import os
import sys
from importlib.util import find_spec

import click

from engine.cli._common import home_of, settings_of
from engine.errors import SpamopsError

LAUNCHER = "web_dashboard.serve"
"""The module that warms the server process, then runs ``streamlit run`` on the page."""

PRIVATE_ENV = {"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
               "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
"""Set in the child so that nothing phones home."""


def streamlit_options(port: int, host: str = "127.0.0.1") -> list[str]:
    """Streamlit's ``run`` options: headless, loopback by default, no usage statistics, no
    file watcher (the page is not edited while it is served)."""
    return ["--server.headless", "true", "--server.address", host,
            "--server.port", str(port), "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]


def streamlit_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The dashboard server's command line: the warming launcher with ``streamlit_options``.

    Located without importing ``web_dashboard``; raises ``SpamopsError`` when it is missing.
    """
    if find_spec("web_dashboard") is None:
        raise SpamopsError("the web_dashboard package is not installed: run `make install`")
    return [sys.executable, "-m", LAUNCHER, *streamlit_options(port, host)]


@click.command("dashboard")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="TCP port (default dashboard.port: 8501).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; keep loopback unless a proxy or container needs more.")
@click.pass_context
def dashboard(ctx: click.Context, port: int | None, host: str) -> None:
    """Serve the web dashboard (metrics, drift, retraining, versions, performance).

    Read-only: it runs beside the API and the console. Listens on 127.0.0.1 unless --host says
    otherwise; answers once it has warmed up (a few seconds on a trained home). Ctrl-C stops.
    """
    from engine.cli.serve_cmd import bind_socket
    from engine.supervisor import run_foreground

    home_of(ctx)
    settings = settings_of(ctx)
    bind_port = settings.dashboard.port if port is None else port
    env = {**os.environ, **PRIVATE_ENV, "SPAMOPS_HOME": str(settings.home.resolve())}
    command = streamlit_command(bind_port, host)
    bind_socket(host, bind_port).close()  # a busy port is one line, before any banner
    click.echo(f"spamops dashboard on http://{host}:{bind_port} (data home "
               f"{settings.home}); Ctrl-C stops", err=True)
    code = run_foreground(command, env=env)
    if code != 0:
        raise SpamopsError(f"the dashboard stopped with exit code {code}")


commands: list[click.Command] = [dashboard]
