"""Shared plumbing of the ``spamops`` commands: settings, services, output.

Every command loads settings through ``settings_of``, builds ``Services`` through
``services_of`` (lazily, so ``--help`` stays fast) and prints either text or, with ``--json``,
JSON made by ``to_jsonable``. Errors are raised as ``SpamopsError`` and turned into one line and
an exit code by ``engine.cli.main``.

Two rules every command follows through this module (issue 18):

- **No silent yes.** A command that asks first calls ``confirm_or_refuse``: ``--yes`` goes
  ahead, a terminal gets the question, anything else (a pipe, cron, ``echo n |``) is refused
  with one line and exit code 3, never taken as a yes.
- **The data home is chosen, not stumbled into.** ``services_of``/``home_of`` check it first:
  a path that is a file, or cannot be created, is one line (exit 2). A missing home is
  created, and said so on stderr, only by the commands that set one up (``create_home=True``:
  ``data fetch``, ``data import``, ``setup-database``, ``train``, ``demo``;
  ``restore`` makes its own); every
  other command refuses,
  naming the home it looked for and how to pick one (``--home``, ``SPAMOPS_HOME``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import click

from engine.errors import HomeError, Refused

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.config import Settings
    from engine.services import Services

F = TypeVar("F", bound=Callable[..., Any])


class CliState:
    """What the root command hands to its subcommands."""

    def __init__(self, home: Path | None) -> None:
        self.home = home
        self._settings: Settings | None = None
        self._services: Services | None = None

    def settings(self) -> Settings:
        """The effective settings (``--home`` overrides ``SPAMOPS_HOME``)."""
        if self._settings is None:
            from engine.config import load_settings

            overrides: dict[str, Any] = {}
            if self.home is not None:
                overrides["home"] = self.home
            self._settings = load_settings(**overrides)
        return self._settings

    def checked_home(self, *, create: bool = False) -> Path:
        """The data home, checked: an existing directory, or (``create``) a new one.

        Raises:
            HomeError: the path is not a directory, cannot be created, or (without
                ``create``) does not exist.
        """
        home = self.settings().home
        shown = home.absolute()
        if home.is_dir():
            return home
        if home.exists():
            raise HomeError(f"data home {shown} is not a directory; pick another with "
                            "--home DIR or SPAMOPS_HOME")
        if not create:
            raise HomeError(f"no data home at {shown}: create it with `spamops setup-database`"
                            " (or `spamops demo`), or pick an existing one with --home DIR or "
                            "SPAMOPS_HOME")
        try:
            home.mkdir(parents=True)
        except FileExistsError:
            if not home.is_dir():
                raise HomeError(f"data home {shown} is not a directory") from None
        except OSError as exc:
            raise HomeError(f"cannot create data home {shown}: "
                            f"{exc.strerror or exc}") from None
        click.echo(f"created data home {shown} (pick another with --home DIR or "
                   "SPAMOPS_HOME)", err=True)
        return home

    def services(self, *, read_only: bool = False, clock: Clock | None = None) -> Services:
        """The engine facade for this data home (on ``clock``, default the real one)."""
        if self._services is None:
            from engine.services import Services

            self._services = Services(self.settings(), read_only=read_only, clock=clock)
        return self._services

    def close(self) -> None:
        """Release what the services hold (flush logs, stop threads)."""
        if self._services is not None:
            self._services.close()
            self._services = None


def state_of(ctx: click.Context) -> CliState:
    """The ``CliState`` of the running command."""
    state = ctx.find_object(CliState)
    if state is None:  # a subcommand invoked without the root group (tests)
        state = CliState(None)
        ctx.obj = state
    return state


def settings_of(ctx: click.Context) -> Settings:
    """The effective settings of the running command."""
    return state_of(ctx).settings()


def home_of(ctx: click.Context, *, create: bool = False) -> Path:
    """The checked data home of the running command (see ``CliState.checked_home``)."""
    return state_of(ctx).checked_home(create=create)


def services_of(ctx: click.Context, *, read_only: bool = False,
                create_home: bool = False, check_home: bool = True,
                clock: Clock | None = None) -> Services:
    """The engine services of the running command (closed when the command ends).

    The data home is checked first (``home_of``): only set-up commands pass ``create_home``;
    a command that reads nothing from the home (``drift --reference``) passes
    ``check_home=False``.
    """
    state = state_of(ctx)
    if check_home or create_home:
        state.checked_home(create=create_home)
    ctx.call_on_close(state.close)
    return state.services(read_only=read_only, clock=clock)


def confirm_or_refuse(question: str, *, yes: bool, default: bool = False) -> None:
    """Go ahead only on an explicit yes: ``--yes``, or an answer typed at a terminal.

    The question goes to stderr so that ``--json`` output stays parseable.

    Raises:
        Refused: stdin is not a terminal and ``--yes`` was not given, or the answer was no.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        ctx = click.get_current_context(silent=True)
        command = f"`{ctx.command_path}`" if ctx is not None else "this command"
        raise Refused(f"{command} asks first and stdin is not a terminal, so nothing was "
                      "done; pass --yes to go ahead without asking")
    if not click.confirm(question, default=default, err=True):
        raise Refused("not confirmed: nothing done")


def yes_option(func: F) -> F:
    """Add ``--yes`` to a command that asks first."""
    return click.option("--yes", "-y", is_flag=True,
                        help="Go ahead without asking (required when stdin is not a "
                             "terminal).")(func)


def json_option(func: F) -> F:
    """Add ``--json`` to a command."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON instead of text.")(func)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes, paths, enums and numpy scalars as plain JSON values; also what
    DuckDB hands ``spamops sql`` back: DECIMAL as a number, UUID as text, BLOB as hex,
    INTERVAL as seconds, TIME as ``HH:MM:SS``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return to_jsonable(float(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Path | UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return to_jsonable(value.item())
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def emit_json(value: Any) -> None:
    """Print ``value`` as one line of JSON on stdout."""
    click.echo(json.dumps(to_jsonable(value), ensure_ascii=False))


def progress_echo(message: str) -> None:
    """Progress lines go to stderr so that stdout stays parseable."""
    click.echo(message, err=True)


def is_tty() -> bool:
    """Whether stdout is a terminal."""
    return sys.stdout.isatty()
