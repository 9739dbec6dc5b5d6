"""The console's widgets, one per module; re-exported here for the screens."""

from tui.widgets.champion_card import ChampionPanel
from tui.widgets.confirm_modal import ConfirmModal
from tui.widgets.decision_table import DecisionTable, HistoryRow
from tui.widgets.drift_sparkline import DriftSparkline, SparklineSpec
from tui.widgets.latest_decision import LatestDecision
from tui.widgets.scheduler_status import SchedulerStatusPanel, SchedulerView
from tui.widgets.view_bar import ViewBar

__all__ = ["ChampionPanel", "ConfirmModal", "DecisionTable", "DriftSparkline", "HistoryRow",
           "LatestDecision", "SchedulerStatusPanel", "SchedulerView", "SparklineSpec",
           "ViewBar"]
