"""The overview: champion card, scheduler, live drift sparklines, latest decision.

Updated without key presses: the app polls the store every couple of seconds and publishes
new snapshots, overviews and scheduler states; every widget here subscribes. Must not call the
engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label

from tui.screens.base import ConsoleScreen
from tui.widgets.champion_card import ChampionPanel
from tui.widgets.decision_table import DecisionTable
from tui.widgets.drift_sparkline import SPARKLINES, DriftSparkline
from tui.widgets.latest_decision import LatestDecision
from tui.widgets.scheduler_status import SchedulerStatusPanel, SchedulerView

if TYPE_CHECKING:
    from engine.records import DriftSnapshot
    from engine.services import Overview

TALL_ROWS = 32
"""From this many rows on, the overview also shows the recent history."""
NO_SNAPSHOTS = "No drift snapshots yet: they appear here after a check (c) on logged traffic."


class OverviewScreen(ConsoleScreen):
    """What the operator keeps open all day."""

    VIEW = "overview"

    def compose_body(self) -> Iterable[Widget]:
        console = self.console
        scheduler = SchedulerStatusPanel(id="scheduler")
        scheduler.border_title = "Scheduler"
        top = Horizontal(ChampionPanel(id="champion"), scheduler, id="overview-top")
        lines = [DriftSparkline(spec, console.snapshots_changed, console.snapshot_history)
                 for spec in SPARKLINES]
        drift = Vertical(Label(NO_SNAPSHOTS, id="drift-empty"), *lines, id="drift")
        drift.border_title = "Drift (latest / threshold)"
        decision = LatestDecision(id="decision")
        decision.border_title = "Latest decision"
        recent = DecisionTable(id="recent-decisions")
        recent.border_title = "Recent decisions and retrains (2: details)"
        return (top, drift, decision, recent)

    def attach(self) -> None:
        console = self.console
        self._snapshots(console.snapshot_history)
        if console.overview is not None:
            self._overview(console.overview)
        self._scheduler(console.scheduler_view)
        console.snapshots_changed.subscribe(self, self._snapshots)
        console.overview_changed.subscribe(self, self._overview)
        console.scheduler_changed.subscribe(self, self._scheduler)
        recent = self.query_one("#recent-decisions", DecisionTable)
        recent.load(console.history_rows)
        console.history_changed.subscribe(self, recent.load)

    def on_resize(self) -> None:
        # Tall terminals also get the recent-history table; 24 rows keep the essentials only.
        self.set_class(self.size.height >= TALL_ROWS, "-tall")

    def _snapshots(self, history: Sequence[DriftSnapshot]) -> None:
        self.query_one("#drift").set_class(not history, "-empty")

    def _overview(self, overview: Overview) -> None:
        self.query_one(ChampionPanel).show(overview)
        self.query_one(LatestDecision).show(overview.latest_decision)
        self._scheduler(self.console.scheduler_view)

    def _scheduler(self, view: SchedulerView) -> None:
        now = self.console.now()
        self.query_one(SchedulerStatusPanel).show(view, now)
