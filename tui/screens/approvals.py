"""Pending challengers with their comparison against the champion; ``a``/``x`` decide.

The approve/reject actions live on the app (they work from every view); this screen only tells
it which approval is selected. Every figure goes through ``tui.formatting`` like the other
screens: versions, ids, times, and the accuracy change of the set the gate judged (the one the
comparison below marks "decides"). Must not call the engine.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group
from rich.text import Text
from textual import on
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine.records import Approval
from tui.formatting import comparison_table, judged_change, short_id, stamp, version
from tui.screens.base import ConsoleScreen

NO_APPROVALS = ("No challenger is waiting for approval. With approval_policy = \"manual\" "
                "a challenger that qualifies for deployment waits here.")


class ApprovalsScreen(ConsoleScreen):
    """Pending approvals; the highlighted one is what ``a`` and ``x`` act on."""

    VIEW = "approvals"

    def compose_body(self) -> Iterable[Widget]:
        details = VerticalScroll(Static(Text(NO_APPROVALS, style="dim"),
                                        id="approval-details"), id="approval-detail-pane")
        details.border_title = "Comparison (a approve · x reject)"
        return (DataTable(id="approvals-table", cursor_type="row"), details)

    def attach(self) -> None:
        table = self.query_one("#approvals-table", DataTable)
        table.add_columns("created", "challenger", "champion", "Δ acc", "id")
        self._approvals: dict[str, Approval] = {}
        self._load(self.console.pending)
        self.console.approvals_changed.subscribe(self, self._load)
        table.focus()

    def _load(self, approvals: list[Approval]) -> None:
        table: DataTable[str] = self.query_one("#approvals-table", DataTable)
        table.clear()
        self._approvals = {a.id: a for a in approvals}
        for a in approvals:
            table.add_row(stamp(a.created_at), version(a.challenger_version),
                          version(a.champion_version), judged_change(a.comparison),
                          short_id(a.id), key=a.id)
        self._show(self.selected_approval)

    @property
    def selected_approval(self) -> Approval | None:
        """The approval under the cursor."""
        table: DataTable[str] = self.query_one("#approvals-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._approvals.get(key or "")

    @on(DataTable.RowHighlighted, "#approvals-table")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show(self.selected_approval)

    def _show(self, approval: Approval | None) -> None:
        details = self.query_one("#approval-details", Static)
        if approval is None:
            details.update(Text(NO_APPROVALS, style="dim"))
            return
        details.update(Group(
            Text(f"Challenger {version(approval.challenger_version)} vs champion "
                 f"{version(approval.champion_version)}, waiting since "
                 f"{stamp(approval.created_at)} (retraining {short_id(approval.retraining_id)})",
                 style="bold"),
            comparison_table(approval.comparison)))
