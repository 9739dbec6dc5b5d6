"""The overview's latest monitoring decision with its reasoning. Must not call the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from tui.formatting import decision_summary

if TYPE_CHECKING:
    from engine.records import Decision


class LatestDecision(Static):
    """What the last check decided and why."""

    def show(self, decision: Decision | None) -> None:
        """Render ``decision`` (or a hint when there is none)."""
        self.update(decision_summary(decision))
