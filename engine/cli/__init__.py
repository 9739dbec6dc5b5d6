"""The ``spamops`` command: where the program is put together.

Parses arguments, loads the configuration, builds ``Services`` and prints text or ``--json``.
A ``SpamopsError`` becomes one line on stderr and a non-zero exit code, never a traceback.
Command groups live in sibling modules, one per area, and are added to ``cli`` below. UI
packages are imported only inside the commands that start them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from engine import __version__
from engine.cli import (
    config_cmd,
    console_cmd,
    dashboard_cmd,
    data,
    demo_cmd,
    drift_cmd,
    models,
    monitor_cmds,
    notify_cmd,
    serve_cmd,
    store_cmds,
    up_cmd,
)
from engine.cli._common import CliState
from engine.errors import SpamopsError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="spamops")
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Data home (overrides SPAMOPS_HOME; default ./data).")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """spamops: keep an SMS-spam classifier healthy in production.

    Train and serve the model, log every prediction, detect drift, retrain, compare and deploy
    only when the challenger is really better, and record every decision with its reasons.
    """
    ctx.obj = CliState(home)


for _group in (config_cmd.commands + data.commands + models.commands
               + store_cmds.commands + drift_cmd.commands + monitor_cmds.commands
               + notify_cmd.commands
               + serve_cmd.commands + demo_cmd.commands + console_cmd.commands
               + dashboard_cmd.commands + up_cmd.commands):
    cli.add_command(_group)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``spamops`` console script."""
    from engine.registry import quiet_mlflow_environment

    quiet_mlflow_environment()
    try:
        cli.main(args=argv, prog_name="spamops", standalone_mode=False)
    except SpamopsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
