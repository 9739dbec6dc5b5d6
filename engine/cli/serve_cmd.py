"""``spamops serve``: run the REST API (``server/``) under uvicorn.

The server package is imported inside the command only: the CLI is where UIs are put together,
and the rest of the command tree must not pay for FastAPI (or depend on it) at start-up.
"""

from __future__ import annotations

import click

from engine.cli._common import services_of, settings_of

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@click.command("serve")
@click.option("--host", default=None,
              help="Address to bind (default server.host: 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="TCP port (default server.port: 8000).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve predictions, feedback, drift, models, history and control over HTTP.

    OpenAPI docs at /docs. Control endpoints need SPAMOPS_API_KEY (header X-API-Key) and are
    disabled without it; predictions are open unless a key is configured. Ctrl-C stops.
    """
    # The CLI is where UIs are put together: uvicorn and the server are imported only here.
    import uvicorn

    from server.main import create_app

    settings = settings_of(ctx)
    bind_host = host or settings.server.host
    bind_port = settings.server.port if port is None else port
    app = create_app(services_of(ctx))
    if bind_host not in _LOOPBACK and settings.api_key is None:
        click.echo(f"warning: serving on {bind_host} without SPAMOPS_API_KEY: predictions and "
                   "feedback are open to the network; control endpoints stay disabled",
                   err=True)
    click.echo(f"spamops API on http://{bind_host}:{bind_port} (docs: /docs); Ctrl-C stops",
               err=True)
    config = uvicorn.Config(app, host=bind_host, port=bind_port, log_config=None,
                            access_log=False, server_header=False)
    uvicorn.Server(config).run()


commands: list[click.Command] = [serve]
