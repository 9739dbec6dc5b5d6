"""The ``spamops`` command: where the program is put together.

Parses arguments, loads the configuration, builds ``Services`` and prints text or ``--json``.
A ``SpamopsError`` becomes one line on stderr and its exit code (``engine.errors.EXIT_CODES``),
never a traceback; so does any other failure (an ``OSError`` names the path; anything else is
an internal error whose traceback ``SPAMOPS_DEBUG=1`` shows).
Command groups live in sibling modules, one per area, and are added to ``cli`` below. UI
packages are imported only inside the commands that start them.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from engine import __version__
from engine.cli import (
    baseline_cmd,
    config_cmd,
    console_cmd,
    dashboard_cmd,
    data,
    demo_cmd,
    drift_cmd,
    feedback_cmd,
    home_cmds,
    models,
    monitor_cmds,
    notify_cmd,
    replay_cmd,
    serve_cmd,
    store_cmds,
    tracking_cmd,
    up_cmd,
)
from engine.cli._common import CliState
from engine.errors import EXIT_CODES, SpamopsError

EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code:<4} {meaning}"
                                        for code, meaning in EXIT_CODES.items())


def _nonempty_home(value: str | None) -> Path | None:
    """``--home ""`` would be the working directory: refuse it like an empty SPAMOPS_HOME."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("must not be empty (it would be the working directory); give "
                                 "a folder, e.g. --home ./data")
    return Path(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EPILOG)
@click.version_option(__version__, prog_name="spamops")
@click.option("--home", type=click.Path(), default=None,
              callback=lambda ctx, param, value: _nonempty_home(value),
              help="Data home (overrides SPAMOPS_HOME; default ./data). Only set-up commands "
                   "(data fetch/import, setup-database, train, demo, restore) create a "
                   "missing one.")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """spamops: keep an SMS-spam classifier healthy in production.

    Train and serve the model, log every prediction, detect drift, retrain, compare and deploy
    only when the challenger is really better, and record every decision with its reasons.
    """
    ctx.obj = CliState(home)


for _group in (config_cmd.commands + data.commands + models.commands
               + store_cmds.commands + feedback_cmd.commands + drift_cmd.commands
               + monitor_cmds.commands
               + notify_cmd.commands
               + serve_cmd.commands + demo_cmd.commands + console_cmd.commands
               + dashboard_cmd.commands + up_cmd.commands + tracking_cmd.commands
               + home_cmds.commands
               + baseline_cmd.commands + replay_cmd.commands):
    cli.add_command(_group)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``spamops`` console script."""
    from engine.registry import quiet_mlflow_environment

    quiet_mlflow_environment()
    try:
        code = cli.main(args=argv, prog_name="spamops", standalone_mode=False)
        if isinstance(code, int) and code != 0:  # ctx.exit(n): click returns n here
            sys.exit(code)
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
    except OSError as exc:  # a path outside the engine's checks: name it, in one line
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("SPAMOPS_DEBUG") == "1":
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(f"internal error: {type(exc).__name__}: {first} (SPAMOPS_DEBUG=1 shows the "
                   "traceback)", err=True)
        sys.exit(1)
