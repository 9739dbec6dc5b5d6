"""Options shared by the commands that read message files (``engine.files``).

``reading_options`` adds ``--encoding``, ``--text-column``, ``--label-column`` and
``--label-map`` to a command; ``read_file`` reads one file with them and prints the
one-line summary (what was read, how, which columns) on stderr, so stdout stays parseable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from engine.cli._common import progress_echo

if TYPE_CHECKING:
    from engine.files import Messages

F = TypeVar("F", bound=Callable[..., Any])


def reading_options(*, labels: bool = True) -> Callable[[F], F]:
    """Add the file-reading options to a command (``labels``: also the label options)."""

    def add(func: F) -> F:
        if labels:
            func = click.option(
                "--label-map", default=None, metavar="FROM=TO,...",
                help="Extra label mappings, e.g. smishing=spam,promo=ham (case-insensitive; "
                     "ham/spam, 0/1 and smishing are known).")(func)
            func = click.option("--label-column", default=None, metavar="NAME",
                                help="Column of the true labels (default: label, class, v1, "
                                     "spam, ...).")(func)
        func = click.option("--text-column", default=None, metavar="NAME",
                            help="Column of the messages (default: text, message, sms, v2, "
                                 "...).")(func)
        func = click.option("--encoding", default=None, metavar="NAME",
                            help="Read the file with this encoding (default: UTF-8, else "
                                 "detected and reported).")(func)
        return func

    return add


def read_file(path: Path, *, encoding: str | None, text_column: str | None,
              label_column: str | None = None, label_map: str | None = None,
              labels: str = "optional", allow_unlabelled: bool = False,
              timestamp_column: str | None = None, timestamps: str = "ignore",
              quiet: bool = False) -> Messages:
    """Read one message file with the command's options; says what it read on stderr."""
    from engine.files import messages_of, read_table
    from engine.labels import parse_label_map

    mapping = parse_label_map(label_map)
    table = read_table(path, encoding=encoding)
    messages = messages_of(table, text_column=text_column, label_column=label_column,
                           timestamp_column=timestamp_column, labels=labels,
                           label_map=mapping, allow_unlabelled=allow_unlabelled,
                           timestamps=timestamps)
    if not quiet:
        progress_echo(messages.summary())
    return messages
