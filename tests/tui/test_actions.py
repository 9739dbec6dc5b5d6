"""Pilot tests of the actions that change the champion: retrain (with the UI responsive while
it runs), approve, reject, rollback. Each asks first (``ConfirmModal``) and is recorded with
the operator's name."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.worker import WorkerState

from tests.tui.conftest import CONSOLE_NOW, wait_for
from tests.tui.helpers import Recorder, make_console
from tui.messages import (
    ApprovalDecided,
    ApprovalsLoaded,
    DecisionRecorded,
    RetrainFinished,
    RetrainProgressed,
    RolledBack,
)
from tui.screens import ApprovalsScreen, HistoryScreen, LogScreen
from tui.widgets import ConfirmModal


def _retrain_worker_running(app: object) -> bool:
    return any(w.group == "retrain" and w.state == WorkerState.RUNNING
               for w in app.workers)  # type: ignore[attr-defined]


@pytest.mark.slow
async def test_r_then_confirm_retrains_while_keys_keep_working(trained_home: Path) -> None:
    """``r`` asks; ``y`` starts the retrain; views switch and ``c`` checks while it runs."""
    app, services = make_console()
    # Hold the real retrain at its start until the keys below were handled, so the test does
    # not depend on how fast this machine trains (the retrain itself is not replaced).
    gate = threading.Event()
    real_training_data = services.monitor._training_data

    def gated_training_data(trigger: str):  # type: ignore[no-untyped-def]
        gate.wait(timeout=120)
        return real_training_data(trigger)

    services.monitor._training_data = gated_training_data  # type: ignore[method-assign]
    recorder = Recorder()
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.overview is not None, what="first overview")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_for(pilot, lambda: _retrain_worker_running(app), what="the retrain")
        # The interface answers while the retrain runs in its thread.
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        assert _retrain_worker_running(app), "the retrain finished too early to test this"
        assert app.work_text.startswith("retrain:")  # the progress line on every view
        # A second retrain from this console is refused, not doubled.
        await pilot.press("r")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmModal)
        await pilot.press("c")
        await wait_for(pilot, lambda: recorder.of(DecisionRecorded), what="the check")
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.screen, LogScreen)
        assert _retrain_worker_running(app)
        gate.set()
        await wait_for(pilot, lambda: recorder.of(RetrainFinished), timeout=120,
                       what="RetrainFinished")
        finished = recorder.of(RetrainFinished)[0]
        assert isinstance(finished, RetrainFinished)
        event = finished.result.event
        assert event.trigger == "operator"
        assert event.actor == services.settings.operator_name
        assert finished.result.deployment.decision in {"DEPLOY", "KEEP"}
        assert any(m.group == "retrain" for m in recorder.of(RetrainProgressed)
                   if isinstance(m, RetrainProgressed))
        await wait_for(pilot, lambda: any(r.event is not None and r.event.id == event.id
                                          for r in app.history_rows), what="history row")
        await wait_for(pilot, lambda: app.work_text == "", what="the progress line to clear")
    assert services.retraining_history(1)[0].id == event.id
    services.close()


async def test_declining_the_confirmation_does_nothing(trained_home: Path) -> None:
    app, services = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmModal)
        assert not [w for w in app.workers if w.group == "retrain"]
    assert services.retraining_history(5) == []
    services.close()


@pytest.mark.parametrize(("key", "button", "status", "champion"), [
    ("a", "y", "approved", 2),
    ("x", "y", "rejected", 1),
])
async def test_pending_challenger_is_approved_or_rejected(
        pending_home: Path, key: str, button: str, status: str, champion: int) -> None:
    app, services = make_console(now=CONSOLE_NOW)
    recorder = Recorder()
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.pending, what="the pending approval")
        assert recorder.of(ApprovalsLoaded)
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalsScreen)
        selected = app.screen.selected_approval
        assert selected is not None and selected.challenger_version == 2
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press(button)
        await wait_for(pilot, lambda: recorder.of(ApprovalDecided), what="ApprovalDecided")
        decided = recorder.of(ApprovalDecided)[0]
        assert isinstance(decided, ApprovalDecided)
        assert decided.approval.status == status
        assert decided.approval.decided_by == services.settings.operator_name
        await wait_for(pilot, lambda: not app.pending, what="the approval to leave the list")
        await wait_for(pilot, lambda: app.overview is not None and app.overview.champion
                       is not None and app.overview.champion.version == champion,
                       what=f"champion v{champion}")
    audit = [r for r in services.audit_records(20) if r.actor ==
             services.settings.operator_name]
    assert any(status[:-1] in r.action or status in r.action for r in audit), audit
    services.close()


async def test_b_then_confirm_rolls_back(populated_home: Path) -> None:
    app, services = make_console(now=CONSOLE_NOW)
    recorder = Recorder()
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.overview is not None, what="first overview")
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_for(pilot, lambda: recorder.of(RolledBack), what="RolledBack")
        rolled = recorder.of(RolledBack)[0]
        assert isinstance(rolled, RolledBack)
        assert (rolled.move.champion, rolled.move.previous) == (1, 2)
        await wait_for(pilot, lambda: app.overview is not None and app.overview.champion
                       is not None and app.overview.champion.version == 1, what="champion v1")
    last = services.audit_records(1)[0]
    assert (last.action, last.actor) == ("rollback", services.settings.operator_name)
    services.close()
