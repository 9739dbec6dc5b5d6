"""The scheduler panel: who holds the scheduler, next monitoring check and next retrain.

``SchedulerView`` is what the app derives from ``SchedulerHost.status()`` (or, when this
console does not host it, from ``Overview.scheduler_holder``); the panel only renders it.
Must not call the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from tui.formatting import DASH, ago, stamp

if TYPE_CHECKING:
    from engine.records import JobRun
    from engine.scheduling import HolderInfo

SchedulerState = Literal["active", "standby", "disabled", "starting", "stopped"]


@dataclass(frozen=True)
class SchedulerView:
    """The scheduler as the console shows it."""

    state: SchedulerState
    holder: HolderInfo | None = None
    next_check: datetime | None = None
    next_retrain: datetime | None = None
    last_run: JobRun | None = None
    store_problem: str = ""
    """Why the store could not be read (``""``: it could); the holder shown is then stale."""


STATE_TEXT: dict[SchedulerState, str] = {
    "active": "running in this console",
    "standby": "held by another process",
    "disabled": "not hosted here (--no-scheduler)",
    "starting": "starting…",
    "stopped": "stopped",
}


class SchedulerStatusPanel(Static):
    """Holder, next check, next retrain, last run."""

    def show(self, view: SchedulerView, now: datetime) -> None:
        """Render ``view``; ages are relative to ``now`` (engine clock)."""
        self.set_class(view.state == "active", "-active")
        self.set_class(view.state == "standby", "-standby")
        lines = [Text(STATE_TEXT[view.state], style="bold")]
        if view.store_problem:  # the holder below (if any) is the last one read
            lines.append(Text("store unreachable: holder unknown", style="bold red"))
        if view.holder is not None:  # host and pid: with PostgreSQL it may be another host
            lines.append(Text(f"{view.holder.kind} on {view.holder.host} "
                              f"(pid {view.holder.pid})"))
            lines.append(Text(f"since {stamp(view.holder.since)}", style="dim"))
        if view.state == "active":
            lines.append(Text.assemble(("check   ", "dim"), _when(view.next_check, now)))
            lines.append(Text.assemble(("retrain ", "dim"), _when(view.next_retrain, now)))
        else:
            lines.append(Text("manual actions still work", style="dim"))
        if view.last_run is not None:
            run = view.last_run
            lines.append(Text.assemble(("last    ", "dim"),
                                       f"{run.job} {run.outcome} {ago(run.started_at, now)}"))
        self.update(Group(*lines))


def _when(when: datetime | None, now: datetime) -> str:
    if when is None:
        return DASH
    return f"{when:%a %H:%M} ({ago(when, now)})"
