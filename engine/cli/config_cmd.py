"""``spamops config show``: the effective configuration and where each value came from."""

from __future__ import annotations

import click

from engine.cli._common import emit_json, json_option, settings_of


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@json_option
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Print every effective value, its source (default, file, env) and its env variable."""
    from engine.config import config_file_path, describe

    values = describe(settings_of(ctx))
    path = config_file_path()
    read = path.is_file()
    if as_json:
        emit_json({"config_file": str(path) if read else None, "values": values})
        return
    width = max(len(v.key) for v in values)
    click.echo(f"config file: {path}" if read else
               f"config file: none ({path} does not exist; defaults and environment only)")
    for v in values:
        click.echo(f"{v.key:<{width}}  {v.value!s:<28} {v.source:<34} {v.env_var}")


commands: list[click.Command] = [config_group]
