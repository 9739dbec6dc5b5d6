"""``SpamopsConsole``: the operator console (issue 7), like k9s for a model.

The app holds the ``Services`` it is given (no globals), runs every blocking engine call in a
thread worker (``@work(thread=True, exclusive=True, group=..., exit_on_error=False)``, the
Harlequin pattern) that posts a typed message from ``tui.messages`` when done, caches what the
messages carry, and fans it out to the views through ``Signal``s (the Posting pattern). One
``Worker.StateChanged`` handler turns a failure into a one-line toast. The views never call the
engine, so the interface stays responsive while a retrain runs.

It polls the store every ``poll_seconds`` (cheap reads: the recent snapshots, the overview), so
snapshots written by any process appear without a key press. When no other process holds the
data home's scheduler, the console hosts it on its own event loop (APScheduler's
``AsyncIOScheduler``; jobs run in the loop's thread pool); otherwise it shows who does, and the
manual actions still work. Starting the scheduler host (taking its lock) and reading its status
(who holds the lock: a query on PostgreSQL) run in workers too, so a slow or unreachable
PostgreSQL never freezes the interface: the view bar and the scheduler panel say "store
unreachable" until a refresh succeeds again.

This module must not import the machinery (duckdb, mlflow, sklearn, apscheduler) nor another
UI; ``engine.cli.console_cmd`` is what builds it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from engine.errors import SpamopsError, StoreUnreachable
from tui.commands import ConsoleCommands
from tui.formatting import version
from tui.messages import (
    ApprovalDecided,
    ApprovalsLoaded,
    DecisionRecorded,
    HistoryLoaded,
    LogLineWritten,
    OverviewRefreshed,
    ReceiversChecked,
    RetrainFinished,
    RetrainProgressed,
    RolledBack,
    SchedulerChanged,
    SchedulerStarted,
    SchedulerStatusRead,
    SnapshotAdded,
)
from tui.screens import ApprovalsScreen, HelpScreen, HistoryScreen, LogScreen, OverviewScreen
from tui.widgets.confirm_modal import ConfirmModal
from tui.widgets.decision_table import HistoryRow, history_rows
from tui.widgets.scheduler_status import SchedulerView
from tui.widgets.view_bar import VIEWS

if TYPE_CHECKING:
    from engine.monitoring import CheckResult, RetrainResult
    from engine.records import Approval, DriftSnapshot, JobRun
    from engine.registry import AliasMove
    from engine.scheduling import SchedulerEvent, SchedulerHost, SchedulerStatus
    from engine.services import Overview, Services

POLL_SECONDS = 2.0
"""How often the console re-reads the store (snapshots, overview, approvals, history)."""
HISTORY_POINTS = 60
"""Snapshots plotted by each sparkline."""
HISTORY_ROWS = 200
"""Decisions and retraining events read for the history view."""
LOG_LINES = 500
"""Monitoring-log lines kept in memory for the log view."""


def one_line(error: BaseException | None) -> str:
    """A failure as one line: a ``SpamopsError``'s own message, else the type and first line."""
    if error is None:
        return "unknown error"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, SpamopsError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class SpamopsConsole(App[None]):
    """The operator console: overview, history, approvals and log of one data home."""

    CSS_PATH = Path(__file__).with_name("console.tcss")
    """Absolute, so subclasses defined elsewhere (``console --serve``) find it too."""
    TITLE = "spamops console"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "overview": OverviewScreen, "history": HistoryScreen,
        "approvals": ApprovalsScreen, "log": LogScreen,
    }
    DEFAULT_MODE = "overview"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "check_now", "Check", id="check-now",
                tooltip="Run one monitoring check now (retrains if the rules say so)"),
        Binding("r", "retrain", "Retrain", id="retrain",
                tooltip="Train a challenger now, compare it, deploy only if better (asks first)"),
        Binding("a", "approve", "Approve", id="approve",
                tooltip="Deploy the selected pending challenger (asks first)"),
        Binding("x", "reject", "Reject", id="reject",
                tooltip="Discard the selected pending challenger (asks first)"),
        Binding("b", "rollback", "Rollback", id="rollback",
                tooltip="Make the previous version champion again (asks first)"),
        Binding("tab", "next_view", "Next view", id="next-view", show=False, priority=True,
                tooltip="Go to the next view"),
        Binding("shift+tab", "previous_view", "Previous view", id="previous-view",
                show=False, priority=True, tooltip="Go to the previous view"),
        Binding("1", "show_view('overview')", "Overview", id="view-overview", show=False,
                tooltip="Champion, scheduler, live drift, latest decision"),
        Binding("2", "show_view('history')", "History", id="view-history", show=False,
                tooltip="Decisions and retraining events with their reasoning"),
        Binding("3", "show_view('approvals')", "Approvals", id="view-approvals", show=False,
                tooltip="Challengers waiting for an operator"),
        Binding("4", "show_view('log')", "Log", id="view-log", show=False,
                tooltip="The monitoring log, streaming"),
        Binding("question_mark", "help", "Help", id="help", key_display="?",
                tooltip="Show every key"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave the console"),
    ]

    def __init__(self, services: Services, *, run_scheduler: bool = True,
                 poll_seconds: float = POLL_SECONDS, history_points: int = HISTORY_POINTS
                 ) -> None:
        super().__init__()
        self.services = services
        self.run_scheduler = run_scheduler
        self.poll_seconds = poll_seconds
        self.history_points = history_points
        # What the views render, kept here so a view opened late is complete at once.
        self.snapshot_history: list[DriftSnapshot] = []
        self.overview: Overview | None = None
        self.history_rows: list[HistoryRow] = []
        self.pending: list[Approval] = []
        self.scheduler_view = SchedulerView("starting" if run_scheduler else "disabled")
        self.work_text = ""
        self.log_lines: deque[str] = deque(maxlen=LOG_LINES)
        # One publisher per kind of news; every widget that shows it subscribes.
        self.snapshots_changed: Signal[Sequence[DriftSnapshot]] = Signal(self, "snapshots")
        self.overview_changed: Signal[Overview] = Signal(self, "overview")
        self.history_changed: Signal[list[HistoryRow]] = Signal(self, "history")
        self.approvals_changed: Signal[list[Approval]] = Signal(self, "approvals")
        self.scheduler_changed: Signal[SchedulerView] = Signal(self, "scheduler")
        self.work_changed: Signal[str] = Signal(self, "work")
        self.log_written: Signal[str] = Signal(self, "log")
        self.failing_receivers: tuple[str, ...] = ()
        self.receivers_changed: Signal[tuple[str, ...]] = Signal(self, "receivers")
        self.store_problem = ""
        """Why the last refresh could not read the store (``""``: it could)."""
        self.store_changed: Signal[str] = Signal(self, "store")
        self._work: dict[str, str] = {}
        self._scheduler_host: SchedulerHost | None = None
        self._scheduler_status: SchedulerStatus | None = None
        # Guards handing a host started in a worker over to an app that may be closing.
        self._host_mutex = threading.Lock()
        self._closing = False
        self._last_run: JobRun | None = None
        self._seen_snapshot: str | None = None
        self._history_signature: tuple[Any, ...] | None = None
        self._poll_error: str | None = None

    # Life cycle --------------------------------------------------------------------------
    @property
    def operator(self) -> str:
        """Who the audit trail names for this console's actions."""
        return self.services.settings.operator_name

    def now(self) -> datetime:
        """The engine clock's time (naive UTC; simulated in demo homes and tests)."""
        return self.services.clock.now()

    def on_mount(self) -> None:
        self.log_lines.extend(self.services.monitor_log.tail(200))
        self.services.monitor_log.subscribe(self._log_listener)
        self.refresh_data(force_history=True)
        self.set_interval(self.poll_seconds, self._poll)
        if self.services.settings.notify.webhooks:
            # A long-lived process delivers webhook events (issue 17); opens the store.
            self.run_worker(self.services.start_notifier, thread=True, group="notifier",
                            description="starting webhook delivery", exit_on_error=False)
        if self.run_scheduler:
            # In a worker: building the host opens the store and imports APScheduler, and
            # taking its lock may wait for PostgreSQL (up to its connect timeout).
            self.start_scheduler(asyncio.get_running_loop())

    def on_unmount(self) -> None:
        self.services.monitor_log.unsubscribe(self._log_listener)
        with self._host_mutex:
            self._closing = True
            host = self._scheduler_host
        if host is not None:
            host.shutdown()  # does not wait for a running job

    def _log_listener(self, line: str) -> None:
        # Called in whichever thread wrote the line; post_message is thread-safe.
        self.post_message(LogLineWritten(line))

    @work(thread=True, exclusive=True, group="scheduler", description="starting the scheduler",
          exit_on_error=False)
    def start_scheduler(self, loop: asyncio.AbstractEventLoop) -> None:
        """Build the scheduler host and start it on ``loop`` (the app's): active when this
        console takes the lock, else standing by. A failure is a toast (one line)."""
        host = self.services.scheduler(kind="console", mode="asyncio",
                                       on_event=self._scheduler_event)
        host.start(loop)
        with self._host_mutex:
            if self._closing:  # the console closed while the lock was being taken
                host.shutdown()
                return
            self._scheduler_host = host
        self.post_message(SchedulerStarted(host))

    def on_scheduler_started(self, _message: SchedulerStarted) -> None:
        self.read_scheduler_status()

    def _scheduler_event(self, event: SchedulerEvent) -> None:
        self.post_message(SchedulerChanged(event))

    # Reads -------------------------------------------------------------------------------
    def _poll(self) -> None:
        if not self._group_busy("refresh"):
            self.refresh_data()
        if self._scheduler_host is not None and not self._group_busy("scheduler-status"):
            self.read_scheduler_status()

    @work(thread=True, exclusive=True, group="scheduler-status",
          description="reading the scheduler status", exit_on_error=False)
    def read_scheduler_status(self) -> None:
        """Read the hosted scheduler's status: active or standing by, and who holds its lock
        (on PostgreSQL a query, which waits while the server does not answer)."""
        host = self._scheduler_host
        if host is not None:
            self.post_message(SchedulerStatusRead(host.status()))

    def on_scheduler_status_read(self, message: SchedulerStatusRead) -> None:
        self._scheduler_status = message.status
        self._publish_scheduler()

    @work(thread=True, exclusive=True, group="refresh", description="refreshing",
          exit_on_error=False)
    def refresh_data(self, force_history: bool = False) -> None:
        """Read snapshots, overview, approvals and (when changed) history; post what's new."""
        services = self.services
        # Snapshots first: DuckDB only, so the sparklines fill before MLflow has loaded.
        history = services.drift_history(limit=self.history_points)
        if history and history[0].id != self._seen_snapshot:
            self._seen_snapshot = history[0].id
            self.post_message(SnapshotAdded(history[0], list(reversed(history))))
        overview = services.overview()
        self.post_message(OverviewRefreshed(overview))
        if overview.pending_approvals or self.pending:
            self.post_message(ApprovalsLoaded(services.approvals("pending")))
        events = services.retraining_history(HISTORY_ROWS)
        signature = (overview.latest_decision.id if overview.latest_decision else None,
                     tuple((e.id, e.status, e.deployment) for e in events))
        if force_history or signature != self._history_signature:
            self._history_signature = signature
            self.post_message(HistoryLoaded(services.decisions(HISTORY_ROWS), events))
        if services.settings.notify.webhooks:
            self.post_message(ReceiversChecked(services.failing_receivers()))

    def on_snapshot_added(self, message: SnapshotAdded) -> None:
        self.snapshot_history = list(message.history)
        self.snapshots_changed.publish(self.snapshot_history)

    def on_overview_refreshed(self, message: OverviewRefreshed) -> None:
        self.overview = message.overview
        self._publish_scheduler(publish=False)
        self.overview_changed.publish(message.overview)

    def on_receivers_checked(self, message: ReceiversChecked) -> None:
        names = tuple(r.receiver for r in message.failing)
        if names == self.failing_receivers:
            return
        newly = [r for r in message.failing if r.receiver not in self.failing_receivers]
        self.failing_receivers = names
        self.receivers_changed.publish(names)
        for receiver in newly:  # say it once when a receiver starts failing, not every poll
            self.notify(f"{receiver.receiver}: {receiver.last_error or 'failing'} "
                        f"({receiver.pending} pending, {receiver.failed} given up); "
                        "see `spamops notify status`", title="webhook receiver failing",
                        severity="warning", timeout=10)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.history_rows = history_rows(message.decisions, message.events)
        self.history_changed.publish(self.history_rows)

    def on_approvals_loaded(self, message: ApprovalsLoaded) -> None:
        self.pending = list(message.approvals)
        self.approvals_changed.publish(self.pending)

    def on_log_line_written(self, message: LogLineWritten) -> None:
        self.log_lines.append(message.line)
        self.log_written.publish(message.line)

    def on_scheduler_changed(self, message: SchedulerChanged) -> None:
        event = message.event
        if event.run is not None and event.run.outcome != "running":
            self._last_run = event.run
            self.refresh_data(force_history=True)
        if self._scheduler_host is not None:
            self.read_scheduler_status()
        self._publish_scheduler()

    def _publish_scheduler(self, publish: bool = True) -> None:
        """Derive the scheduler panel's view from what workers last read (never reads)."""
        holder = self.overview.scheduler_holder if self.overview else None
        status = self._scheduler_status
        problem = self.store_problem
        if status is None:
            if not self.run_scheduler:
                state = "standby" if holder is not None else "disabled"
                view = SchedulerView(state, None if problem else holder,  # type: ignore[arg-type]
                                     store_problem=problem)
            else:
                view = SchedulerView(self.scheduler_view.state, store_problem=problem)
        else:
            jobs = {job.id: job.next_run_time for job in status.jobs}
            state = ("active" if status.active else "standby" if status.standby
                     else "stopped")
            view = SchedulerView(state, status.holder, jobs.get("monitor"),  # type: ignore[arg-type]
                                 jobs.get("retrain"), self._last_run, problem)
        self.scheduler_view = view
        self.scheduler_changed.publish(view)

    def _set_store_problem(self, problem: str) -> None:
        if problem == self.store_problem:
            return
        self.store_problem = problem
        self.store_changed.publish(problem)
        self._publish_scheduler()

    # Work in progress --------------------------------------------------------------------
    def _group_busy(self, group: str) -> bool:
        return any(w.group == group and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
                   for w in self.workers)

    def _set_work(self, group: str, text: str | None) -> None:
        if text is None:
            self._work.pop(group, None)
        else:
            self._work[group] = text
        self.work_text = " · ".join(f"{g}: {t}" for g, t in self._work.items())
        self.work_changed.publish(self.work_text)

    def _progress(self, group: str) -> Callable[[str], None]:
        def report(message: str) -> None:
            self.post_message(RetrainProgressed(group, message))

        return report

    def on_retrain_progressed(self, message: RetrainProgressed) -> None:
        if message.group in self._work:
            self._set_work(message.group, message.message)

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where a failed worker becomes a toast (one line, no traceback)."""
        worker = event.worker
        finished = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)
        if event.state in finished and worker.group in self._work:
            self._set_work(worker.group, None)
        if event.state == WorkerState.SUCCESS and worker.group == "refresh":
            self._poll_error = None
            self._set_store_problem("")
        if event.state != WorkerState.ERROR:
            return
        message = one_line(worker.error)
        if worker.group == "scheduler":
            self.scheduler_view = SchedulerView("stopped", store_problem=self.store_problem)
            self.scheduler_changed.publish(self.scheduler_view)
        if worker.group == "refresh":
            if isinstance(worker.error, StoreUnreachable):
                self._set_store_problem(message)
            if message == self._poll_error:  # the poll repeats: say it once until it recovers
                return
            self._poll_error = message
        self.notify(message, title=f"{worker.description} failed", severity="error",
                    timeout=10)

    # Commands ----------------------------------------------------------------------------
    def action_check_now(self) -> None:
        """Run one monitoring check now, in a worker."""
        if self._group_busy("check"):
            self.notify("a monitoring check is already running", severity="warning")
            return
        self._set_work("check", "running a monitoring check")
        self.check_now()

    @work(thread=True, exclusive=True, group="check", description="monitoring check",
          exit_on_error=False)
    def check_now(self) -> CheckResult:
        """The monitoring cycle (and a retrain when the rules ask for one)."""
        result = self.services.check_now(trigger="operator", actor=self.operator,
                                         progress=self._progress("check"))
        self.post_message(DecisionRecorded(result.decision, result))
        return result

    def on_decision_recorded(self, message: DecisionRecorded) -> None:
        decision, result = message.decision, message.result
        text = f"{decision.decision}: {decision.outcome}"
        if result.retrain_error:
            self.notify(result.retrain_error, title="retrain failed", severity="error")
        self.notify(text, title="monitoring check")
        self.refresh_data(force_history=True)

    def action_retrain(self) -> None:
        """Ask, then retrain in a worker."""
        if self._group_busy("retrain"):
            self.notify("a retrain is already running in this console", severity="warning")
            return
        self.push_screen(ConfirmModal(
            "Retrain now?",
            "Train a challenger on the training split plus labelled feedback, compare it "
            "with the champion on identical sets, and deploy it only if it is really better.",
            confirm_label="Retrain"), self._retrain_confirmed)

    def _retrain_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self._set_work("retrain", "starting")
            self.retrain()

    @work(thread=True, exclusive=True, group="retrain", description="retrain",
          exit_on_error=False)
    def retrain(self) -> RetrainResult:
        """Train, compare and deploy/keep/queue a challenger."""
        result = self.services.retrain(trigger="operator", actor=self.operator,
                                       progress=self._progress("retrain"))
        self.post_message(RetrainFinished(result))
        return result

    def on_retrain_finished(self, message: RetrainFinished) -> None:
        deployment = message.result.deployment
        self.notify(" ".join(deployment.reasons) or deployment.decision,
                    title=f"retrain: {deployment.decision}")
        self.refresh_data(force_history=True)

    def _target_approval(self) -> Approval | None:
        screen = self.screen
        if isinstance(screen, ApprovalsScreen) and screen.selected_approval is not None:
            return screen.selected_approval
        return self.pending[0] if self.pending else None

    def action_approve(self) -> None:
        """Ask, then deploy the selected pending challenger."""
        self._decide_approval(approve=True)

    def action_reject(self) -> None:
        """Ask, then discard the selected pending challenger."""
        self._decide_approval(approve=False)

    def _decide_approval(self, *, approve: bool) -> None:
        approval = self._target_approval()
        if approval is None:
            self.notify("no challenger is waiting for approval", severity="warning")
            return
        verb = "Approve" if approve else "Reject"
        body = (f"{verb} challenger {version(approval.challenger_version)} (champion "
                f"{version(approval.champion_version)})? " + (
                    "It becomes the champion." if approve else "It will not be deployed.")
                + f" Recorded in the audit trail as {self.operator}.")

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._set_work("approval", f"{verb.lower()}ing v{approval.challenger_version}")
                self.decide_approval(approval.id, approve)

        self.push_screen(ConfirmModal(f"{verb} v{approval.challenger_version}?", body,
                                      confirm_label=verb), confirmed)

    @work(thread=True, exclusive=True, group="approval", description="approval",
          exit_on_error=False)
    def decide_approval(self, approval_id: str, approve: bool) -> Approval:
        """Approve or reject ``approval_id`` as the operator."""
        decide = self.services.approve if approve else self.services.reject
        approval = decide(approval_id, actor=self.operator,
                          reason=f"{'approved' if approve else 'rejected'} in the console")
        self.post_message(ApprovalDecided(approval))
        return approval

    def on_approval_decided(self, message: ApprovalDecided) -> None:
        a = message.approval
        self.notify(f"challenger v{a.challenger_version} {a.status} by {a.decided_by}",
                    title="approval")
        self.refresh_data(force_history=True)

    def action_rollback(self) -> None:
        """Ask, then make the previous version champion again."""
        champion = self.overview.champion if self.overview else None
        if champion is not None and champion.previous_version is None:
            self.notify("there is no previous version to roll back to", severity="warning")
            return
        what = (f"Champion v{champion.version} is replaced by v{champion.previous_version}."
                if champion is not None else "The previous version becomes champion.")
        self.push_screen(ConfirmModal("Roll back?", what + " Serving follows at once.",
                                      confirm_label="Roll back"), self._rollback_confirmed)

    def _rollback_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self._set_work("rollback", "rolling back")
            champion = self.overview.champion if self.overview else None
            self.rollback(champion.version if champion else None)

    @work(thread=True, exclusive=True, group="rollback", description="rollback",
          exit_on_error=False)
    def rollback(self, expected_champion: int | None = None) -> AliasMove:
        """Swap champion and previous, if ``expected_champion`` (the one the operator saw
        when confirming) is still the champion."""
        move = self.services.rollback(actor=self.operator,
                                      reasoning="rolled back in the console",
                                      expected_champion=expected_champion)
        self.post_message(RolledBack(move))
        return move

    def on_rolled_back(self, message: RolledBack) -> None:
        self.notify(f"champion is now v{message.move.champion}", title="rollback")
        self.refresh_data(force_history=True)

    # Views -------------------------------------------------------------------------------
    def action_show_view(self, mode: str) -> None:
        """Switch to one of the four views."""
        if self.current_mode != mode:
            self.switch_mode(mode)

    def _step_view(self, step: int) -> None:
        modes = [mode for mode, _ in VIEWS]
        index = modes.index(self.current_mode) if self.current_mode in modes else 0
        self.switch_mode(modes[(index + step) % len(modes)])

    def action_next_view(self) -> None:
        """Go to the next view (tab)."""
        if isinstance(self.screen, HelpScreen | ConfirmModal):
            return
        self._step_view(1)

    def action_previous_view(self) -> None:
        """Go to the previous view (shift+tab)."""
        if isinstance(self.screen, HelpScreen | ConfirmModal):
            return
        self._step_view(-1)

    def action_help(self) -> None:
        """Show every key."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_bindings()))

    def key_bindings(self) -> list[Binding]:
        """The app's bindings (for the help screen and the command palette)."""
        return [b for b in self.BINDINGS if isinstance(b, Binding)]
