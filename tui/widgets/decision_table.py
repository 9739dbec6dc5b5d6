"""The history table: monitoring decisions and retraining events, newest first.

``HistoryRow`` is one line of it, built from a ``Decision`` (with the retraining event it
started, if any) or from a retraining event no check started (an operator's ``r``, the weekly
schedule). Selecting a row shows its full reasoning and comparison in the history screen; the
table only lays rows out and must not call the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import RenderableType
from textual.widgets import DataTable

from engine.records import Decision, RetrainingEvent
from tui.formatting import (
    DASH,
    accuracy_change,
    decision_details,
    decision_text,
    event_details,
    stamp,
    version,
)


@dataclass(frozen=True)
class HistoryRow:
    """One row of the history: a check (maybe with its retrain) or a standalone retrain."""

    key: str
    ts: datetime
    kind: str
    """``check`` or ``retrain``."""
    decision: Decision | None
    event: RetrainingEvent | None

    @property
    def trigger(self) -> str:
        """What started it."""
        item = self.decision or self.event
        return item.trigger if item is not None else DASH

    @property
    def versions(self) -> str:
        """``v2 -> v3`` (champion -> challenger) or the champion checked."""
        if self.event is not None:
            champion, challenger = self.event.champion_version, self.event.challenger_version
            return (f"{version(champion)} -> {version(challenger)}" if challenger
                    else version(champion))
        return version(self.decision.champion_version if self.decision is not None else None)

    @property
    def word(self) -> str:
        """The decision shown in the table."""
        if self.decision is not None and self.event is None:
            return self.decision.decision
        if self.event is not None:
            return self.event.deployment or self.event.status.upper()
        return DASH

    def details(self) -> RenderableType:
        """The full reasoning, comparison metrics and McNemar p-value."""
        if self.decision is not None:
            return decision_details(self.decision, self.event)
        assert self.event is not None
        return event_details(self.event)


def history_rows(decisions: Sequence[Decision], events: Sequence[RetrainingEvent]
                 ) -> list[HistoryRow]:
    """Merge decisions and retraining events into rows, newest first."""
    by_id = {e.id: e for e in events}
    rows: list[HistoryRow] = []
    used: set[str] = set()
    for d in decisions:
        event = by_id.get(d.retraining_id) if d.retraining_id else None
        if event is not None:
            used.add(event.id)
        rows.append(HistoryRow(f"d:{d.id}", d.ts, "check", d, event))
    for e in events:
        if e.id not in used:
            rows.append(HistoryRow(f"r:{e.id}", e.started_at, "retrain", None, e))
    rows.sort(key=lambda r: r.ts, reverse=True)
    return rows


class DecisionTable(DataTable[RenderableType]):
    """Time, kind, trigger, decision, versions, accuracy change."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns("time", "kind", "trigger", "decision", "versions", "Δ acc")
        self.rows_by_key: dict[str, HistoryRow] = {}

    def load(self, rows: Sequence[HistoryRow]) -> None:
        """Replace the rows, keeping the cursor on the same record where possible."""
        selected = self.selected_row
        self.clear()
        self.rows_by_key = {}
        for row in rows:
            self.rows_by_key[row.key] = row
            self.add_row(stamp(row.ts), row.kind, row.trigger, decision_text(row.word),
                         row.versions, accuracy_change(row.event), key=row.key)
        if selected is not None and selected.key in self.rows_by_key:
            self.move_cursor(row=self.get_row_index(selected.key))

    @property
    def selected_row(self) -> HistoryRow | None:
        """The row under the cursor."""
        if not self.row_count or not getattr(self, "rows_by_key", None):
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.rows_by_key.get(key or "")
