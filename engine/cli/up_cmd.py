"""``spamops up`` (API, monitor and dashboard as one supervised group) and ``spamops mlflow-ui``."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click

from engine.cli._common import home_of, settings_of


def _spamops(*args: str) -> list[str]:
    return [sys.executable, "-c", "from engine.cli import main; main()", *args]


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the API.")
@click.option("--api-port", type=int, default=None, help="API port (default server.port).")
@click.option("--dashboard-port", type=int, default=None,
              help="Dashboard port (default dashboard.port).")
@click.option("--mlflow", "with_mlflow", is_flag=True, help="Also run the MLflow UI.")
@click.option("--mlflow-port", type=int, default=5000, show_default=True)
@click.pass_context
def up(ctx: click.Context, host: str, api_port: int | None, dashboard_port: int | None,
       with_mlflow: bool, mlflow_port: int) -> None:
    """Start the API, the headless monitor and the dashboard as one supervised group.

    Output is prefixed by service; a child that dies is reported and restarted with back-off;
    one Ctrl-C stops them all. The children are listed in <home>/run/up.json.
    """
    from engine.supervisor import ServiceSpec, Supervisor

    home_of(ctx)
    settings = settings_of(ctx)
    api = api_port if api_port is not None else settings.server.port
    dash = dashboard_port if dashboard_port is not None else settings.dashboard.port
    specs = [
        ServiceSpec("api", _spamops("serve", "--host", host, "--port", str(api)),
                    f"http://{host}:{api}/docs"),
        ServiceSpec("monitor", _spamops("monitor")),
        ServiceSpec("dashboard", _spamops("dashboard", "--port", str(dash)),
                    f"http://127.0.0.1:{dash}"),
    ]
    if with_mlflow:
        specs.append(ServiceSpec("mlflow", _spamops("mlflow-ui", "--port", str(mlflow_port)),
                                 f"http://127.0.0.1:{mlflow_port}"))
    env = dict(os.environ, SPAMOPS_HOME=str(settings.home.resolve()), PYTHONUNBUFFERED="1")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    supervisor = Supervisor(specs, env=env, status_file=settings.home / "run" / "up.json",
                            out=click.echo)
    try:
        supervisor.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("all services stopped")


@click.command("mlflow-ui")
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.pass_context
def mlflow_ui(ctx: click.Context, port: int, host: str) -> None:
    """Run the MLflow UI on this data home's registry (sqlite) and artifacts."""
    from engine.errors import ConfigError
    from engine.registry import is_tracking_server, quiet_mlflow_environment
    from engine.relocation import adopt_artifact_root

    home_of(ctx)
    settings = settings_of(ctx)
    if is_tracking_server(settings.tracking_uri):
        raise ConfigError(f"the registry is on the MLflow tracking server "
                          f"{settings.tracking_uri}, which serves its own UI: open that URL; "
                          "`spamops mlflow-ui` shows a data home's own sqlite registry")
    quiet_mlflow_environment()
    adopt_artifact_root(settings.tracking_uri, settings.artifacts_dir)  # a moved home
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", settings.tracking_uri,
            "--default-artifact-root", str(settings.artifacts_dir.resolve()),
            "--host", host, "--port", str(port), "--workers", "1"]
    os.execv(sys.executable, argv)


commands: list[click.Command] = [up, mlflow_ui]
