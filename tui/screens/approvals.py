"""Pending challengers with their comparison against the champion; ``a``/``x`` decide.

The approve/reject actions live on the app (they work from every view); this screen only tells
it which approval is selected. Must not call the engine.
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
from tui.formatting import comparison_table, points, stamp
from tui.screens.base import ConsoleScreen

NO_APPROVALS = ("No challenger is waiting for approval. With approval_policy = \"manual\" "
                "a challenger that qualifies for deployment waits here.")


def improvement_of(approval: Approval) -> float | None:
    """The accuracy difference the deployment rule judged (recent labels, else test set)."""
    sets = approval.comparison.get("sets", []) if approval.comparison else []
    by_name = {s.get("name"): s for s in sets}
    chosen = (by_name.get("recent_feedback") or by_name.get("test_split")
              or (sets[0] if sets else None))
    return chosen.get("accuracy_difference") if chosen else None


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
            table.add_row(stamp(a.created_at), f"v{a.challenger_version}",
                          f"v{a.champion_version}", points(improvement_of(a)), a.id[:8],
                          key=a.id)
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
            Text(f"Challenger v{approval.challenger_version} vs champion "
                 f"v{approval.champion_version}, waiting since {stamp(approval.created_at)} "
                 f"(retraining {approval.retraining_id[:8]})", style="bold"),
            comparison_table(approval.comparison)))
