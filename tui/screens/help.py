"""The ``?`` help screen: every key with what it does, built from the app's bindings.

Built from ``BINDINGS`` (their ids, descriptions and tooltips), so it cannot drift from the
keys that really work. Must not call the engine.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP_INTRO = ("The console hosts the monitoring scheduler when no other process does, and "
              "shows drift, decisions and approvals as they happen. Actions that change the "
              "champion ask first. ctrl+p opens the command palette.")


def key_table(bindings: list[Binding]) -> Table:
    """Key, action and explanation of each binding that has a description."""
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("key", style="bold")
    table.add_column("action")
    table.add_column("what it does")
    seen: set[str] = set()
    for binding in bindings:
        if not binding.description or binding.description in seen:
            continue
        seen.add(binding.description)
        key = binding.key_display or binding.key.replace("question_mark", "?")
        table.add_row(key, binding.description, binding.tooltip)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and what they do; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help-close")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self._keys = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog") as dialog:
            dialog.border_title = "spamops console: keys"
            dialog.border_subtitle = "escape closes"
            yield Static(Text(HELP_INTRO), id="help-intro")
            yield Static(key_table(self._keys), id="help-keys")

    def action_close(self) -> None:
        """Close the help screen."""
        self.dismiss(None)
