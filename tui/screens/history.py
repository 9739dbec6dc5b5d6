"""The history: decisions and retraining events; the selected one in full below the table.

Must not call the engine: the app's workers load the rows and publish them.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from tui.screens.base import ConsoleScreen
from tui.widgets.decision_table import DecisionTable, HistoryRow

NO_HISTORY = "No decisions or retraining events yet. Press c to run a monitoring check."


class HistoryScreen(ConsoleScreen):
    """Every decision with its reasoning, comparison metrics and McNemar p-value."""

    VIEW = "history"

    def compose_body(self) -> Iterable[Widget]:
        details = VerticalScroll(Static(Text(NO_HISTORY, style="dim"), id="history-details"),
                                 id="history-detail-pane")
        details.border_title = "Details"
        return (DecisionTable(id="history-table"), details)

    def attach(self) -> None:
        self._rows(self.console.history_rows)
        self.console.history_changed.subscribe(self, self._rows)
        self.query_one(DecisionTable).focus()

    def _rows(self, rows: list[HistoryRow]) -> None:
        table = self.query_one(DecisionTable)
        table.load(rows)
        self._show(table.selected_row)

    @on(DataTable.RowHighlighted, "#history-table")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show(self.query_one(DecisionTable).selected_row)

    def _show(self, row: HistoryRow | None) -> None:
        details = self.query_one("#history-details", Static)
        details.update(row.details() if row is not None else Text(NO_HISTORY, style="dim"))
