"""The monitoring log, streaming: the tail of ``logs/monitor.log``, then every new line.

The app reads the tail once and forwards the lines ``MonitorLog`` hands its listener (from
worker and scheduler threads, through thread-safe messages). Must not call the engine.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Log

from tui.screens.base import ConsoleScreen


class LogScreen(ConsoleScreen):
    """``[2025-01-06 10:30:00] Decision: RETRAIN (drift) - …`` as it is written."""

    VIEW = "log"

    def compose_body(self) -> Iterable[Widget]:
        log = Log(id="monitor-log", highlight=True, max_lines=2000)
        log.border_title = "Monitoring log"
        return (log,)

    def attach(self) -> None:
        log = self.query_one(Log)
        lines = list(self.console.log_lines)
        if lines:
            log.write_lines(lines)
        else:
            log.write_line("The monitoring log is empty: checks and retrains write here.")
        self.console.log_written.subscribe(self, log.write_line)
        log.focus()
