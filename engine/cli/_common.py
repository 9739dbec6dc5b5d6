"""Shared plumbing of the ``spamops`` commands: settings, services, output.

Every command loads settings through ``settings_of``, builds ``Services`` through
``services_of`` (lazily, so ``--help`` stays fast) and prints either text or, with ``--json``,
JSON made by ``to_jsonable``. Errors are raised as ``SpamopsError`` and turned into one line and
an exit code by ``engine.cli.main``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
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

    def services(self, *, read_only: bool = False) -> Services:
        """The engine facade for this data home."""
        if self._services is None:
            from engine.services import Services

            self._services = Services(self.settings(), read_only=read_only)
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


def services_of(ctx: click.Context, *, read_only: bool = False) -> Services:
    """The engine services of the running command (closed when the command ends)."""
    state = state_of(ctx)
    ctx.call_on_close(state.close)
    return state.services(read_only=read_only)


def json_option(func: F) -> F:
    """Add ``--json`` to a command."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON instead of text.")(func)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes, paths, enums and numpy scalars as plain JSON values."""
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
    if isinstance(value, Path):
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
