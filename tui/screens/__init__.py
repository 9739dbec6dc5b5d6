"""The console's views (one screen per mode) and the help screen."""

from tui.screens.approvals import ApprovalsScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen
from tui.screens.log import LogScreen
from tui.screens.overview import OverviewScreen

__all__ = ["ApprovalsScreen", "HelpScreen", "HistoryScreen", "LogScreen", "OverviewScreen"]
