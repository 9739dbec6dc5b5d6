"""``spamops console``: open the operator console (``tui/``), optionally serving the API too.

The Textual app (and, with ``--serve``, the FastAPI app and uvicorn) are imported inside the
command only: the CLI is where UIs are put together, and the rest of the command tree must not
pay for Textual or FastAPI at start-up. With ``--serve`` one ``Services`` is handed to both the
console and ``server.main.create_app``; uvicorn runs as a task on the console's event loop
(STACK.md), started when the app is ready and stopped (``should_exit``, then awaited) before
it exits.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

import click

from engine.cli._common import services_of
from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.services import Services


def build_console(services: Services, *, run_scheduler: bool, serve_port: int | None,
                  serve_host: str = "127.0.0.1") -> Any:
    """The console app for ``services``, serving the REST API on ``serve_port`` if given."""
    # The CLI is where UIs are put together: Textual (and the server) are imported only here.
    from tui.app import SpamopsConsole

    if serve_port is None:
        return SpamopsConsole(services, run_scheduler=run_scheduler)

    import uvicorn

    from server.main import create_app

    port: int = serve_port
    api = create_app(services, close_services=False)  # the CLI closes them after the app

    class ServingConsole(SpamopsConsole):
        """The console plus the REST API as a task on the same loop."""

        api_server: uvicorn.Server | None = None
        api_task: asyncio.Task[None] | None = None

        # Textual calls the on_mount/on_unmount of every class in the MRO: no super() here.
        def on_mount(self) -> None:
            config = uvicorn.Config(api, host=serve_host, port=port, log_config=None,
                                    access_log=False, server_header=False, lifespan="on")
            self.api_server = uvicorn.Server(config)
            self.api_task = asyncio.get_running_loop().create_task(self.api_server.serve())
            self.notify(f"REST API on http://{serve_host}:{serve_port} (docs: /docs)",
                        title="serving")

        async def on_unmount(self) -> None:  # type: ignore[override]
            if self.api_server is not None and self.api_task is not None:
                self.api_server.should_exit = True
                await self.api_task

    return ServingConsole(services, run_scheduler=run_scheduler)


@click.command("console")
@click.option("--serve", "serve_api", is_flag=True,
              help="Also serve the REST API from this process (one Services for both).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port of the REST API with --serve (default server.port: 8000).")
@click.option("--no-scheduler", is_flag=True,
              help="Do not host the monitoring scheduler in the console.")
@click.pass_context
def console(ctx: click.Context, serve_api: bool, port: int | None, no_scheduler: bool) -> None:
    """Open the operator console: live drift, decisions, approvals, retrain control.

    The console hosts the monitoring scheduler when no other process holds it (otherwise it
    shows who does; manual actions still work). Keys: c check now, r retrain, a/x approve or
    reject, b roll back, 1-4 or tab switch views, ? help, q quit.

    Needs a terminal on stdin and stdout: without one it refuses (exit code 2) rather than
    write escape codes into a pipe and hold the scheduler with no one to see it; run
    `spamops monitor` for a headless scheduler.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ConfigError("the console needs a terminal (stdin and stdout); for a headless "
                          "scheduler run `spamops monitor`, for reads `spamops history`")
    services = services_of(ctx)
    settings = services.settings
    serve_port = (settings.server.port if port is None else port) if serve_api else None
    app = build_console(services, run_scheduler=not no_scheduler, serve_port=serve_port,
                        serve_host=settings.server.host)
    app.run()


commands: list[click.Command] = [console]
