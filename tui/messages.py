"""App-wide messages of the operator console: past-tense facts, posted by workers.

Workers (``tui.app``) run every blocking engine call in a thread and post one of these when it
is done; the app caches what they carry and fans it out to the screens through signals.
``post_message`` is thread-safe, which is why workers, the scheduler's event callback and the
monitoring-log listener post messages instead of touching widgets. Messages carry engine result
types only; this module must not call the engine or hold any widget logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from engine.monitoring import CheckResult, RetrainResult
    from engine.records import Approval, Decision, DriftSnapshot, ReceiverHealth, RetrainingEvent
    from engine.registry import AliasMove
    from engine.scheduling import SchedulerEvent, SchedulerHost, SchedulerStatus
    from engine.services import Overview


@dataclass
class ReceiversChecked(Message):
    """The webhook receivers that are failing now (empty: all deliver), read by the poll."""

    failing: list[ReceiverHealth]


@dataclass
class OverviewRefreshed(Message):
    """A fresh ``Services.overview()`` was read (the periodic poll or after an action)."""

    overview: Overview


@dataclass
class SnapshotAdded(Message):
    """A drift snapshot newer than the last one seen appeared in the store."""

    snapshot: DriftSnapshot
    history: list[DriftSnapshot]
    """The recent snapshots, oldest first, the new one last (what the sparklines plot)."""


@dataclass
class HistoryLoaded(Message):
    """Decisions and retraining events were read for the history view."""

    decisions: list[Decision]
    events: list[RetrainingEvent]


@dataclass
class ApprovalsLoaded(Message):
    """The pending approvals were read."""

    approvals: list[Approval]


@dataclass
class DecisionRecorded(Message):
    """A monitoring check this console started finished and recorded its decision."""

    decision: Decision
    result: CheckResult


@dataclass
class RetrainProgressed(Message):
    """A line of progress from a running check or retrain."""

    group: str
    """The worker group reporting: ``check`` or ``retrain``."""
    message: str


@dataclass
class RetrainFinished(Message):
    """A retrain this console started finished (deployed, kept or pending approval)."""

    result: RetrainResult


@dataclass
class ApprovalDecided(Message):
    """An operator approved or rejected a pending challenger from this console."""

    approval: Approval


@dataclass
class RolledBack(Message):
    """An operator rolled the champion back from this console."""

    move: AliasMove


@dataclass
class SchedulerChanged(Message):
    """The in-process scheduler changed state or recorded a run (from any thread)."""

    event: SchedulerEvent


@dataclass
class SchedulerStarted(Message):
    """The console's scheduler host was built and started (in a worker: taking its lock may
    wait for the store)."""

    host: SchedulerHost


@dataclass
class SchedulerStatusRead(Message):
    """``SchedulerHost.status()`` was read in a worker (on PostgreSQL the holder is a query)."""

    status: SchedulerStatus


@dataclass
class LogLineWritten(Message):
    """A line was written to the monitoring log by this process (from any thread)."""

    line: str

