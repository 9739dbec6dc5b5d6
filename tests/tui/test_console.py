"""Pilot tests of the console on real data homes: start-up, live drift, check now, views,
help, errors as toasts. Assertions look at the screen and at the messages posted."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Log, Static

from engine.config import load_settings
from engine.services import Services
from tests.tui.conftest import CONSOLE_NOW, in_thread, wait_for
from tests.tui.helpers import Recorder, make_console
from tui.app import SpamopsConsole, one_line
from tui.messages import DecisionRecorded, OverviewRefreshed, SnapshotAdded
from tui.screens import ApprovalsScreen, HelpScreen, HistoryScreen, LogScreen, OverviewScreen
from tui.widgets import ChampionPanel, ConfirmModal, DecisionTable, DriftSparkline, LatestDecision


def _text(widget: Static) -> str:
    """The plain text a Static shows (its Rich content rendered wide, styles dropped)."""
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


async def test_empty_home_says_what_to_do_next(data_home: Path) -> None:
    """No database, no model: the overview says to train first, with no traceback."""
    app, services = make_console()
    recorder = Recorder()
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.overview is not None, what="first overview")
        await pilot.pause()
        champion = app.screen.query_one(ChampionPanel)
        assert "spamops train" in _text(champion)
        assert "spamops demo" in _text(champion)
        assert champion.has_class("-empty")
        assert app.screen.query_one("#drift").has_class("-empty")
        assert "No monitoring decision yet" in _text(app.screen.query_one(LatestDecision))
        assert not recorder.of(SnapshotAdded)
        assert recorder.of(OverviewRefreshed)
        assert not recorder.notifications()  # nothing failed
    services.close()


async def test_populated_home_shows_champion_drift_and_decision(populated_home: Path) -> None:
    app, services = make_console(now=CONSOLE_NOW)
    recorder = Recorder()
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.overview is not None and app.snapshot_history,
                       what="overview and snapshots")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        assert screen.query_one(ChampionPanel).border_title == "Champion v2"
        card = _text(screen.query_one(ChampionPanel))
        # v2 was deployed by the last check, which measured v1: no live figure is v2's yet.
        assert "live no check yet" in card and "prev v1" in card
        lines = {s.spec.key: s for s in screen.query(DriftSparkline)}
        assert set(lines) == {"drift-score", "vocabulary", "tfidf", "prediction", "spam-rate"}
        assert len(lines["drift-score"].values) == 2
        assert lines["drift-score"].has_class("-over")  # drifted window beyond 0.15
        assert "/ 0.15" in _text(lines["drift-score"].query_one(".spark-value", Static))
        decision = _text(screen.query_one(LatestDecision))
        assert "RETRAIN" in decision and "deployed v2" in decision
        snapshot_messages = recorder.of(SnapshotAdded)
        assert len(snapshot_messages) == 1
        assert snapshot_messages[0].snapshot.id == app.snapshot_history[-1].id
    services.close()


@pytest.mark.slow
async def test_new_snapshot_appears_without_a_key_press(populated_home: Path) -> None:
    """Another writer records a check; the sparklines grow with no input."""
    app, services = make_console()
    recorder = Recorder()
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: len(app.snapshot_history) == 2, what="two snapshots")
        other = Services(load_settings())

        def write_snapshot() -> None:
            other.simulate(messages=300, label_rate=0.2, seed=11)
            other.check_now(trigger="operator", actor="someone-else", retrain=False)

        await in_thread(write_snapshot)
        line = app.screen.query_one("#spark-drift-score", DriftSparkline)
        await wait_for(pilot, lambda: len(line.values) == 3, what="the third point")
        assert len(recorder.of(SnapshotAdded)) == 2
        assert recorder.of(SnapshotAdded)[-1].snapshot.n == 300
        other.close()
    services.close()


@pytest.mark.slow
async def test_c_runs_a_check_and_records_a_decision(trained_home: Path) -> None:
    app, services = make_console()
    services.simulate(messages=300, label_rate=0.3, seed=5)
    recorder = Recorder()
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.overview is not None, what="first overview")
        await pilot.press("c")
        await wait_for(pilot, lambda: recorder.of(DecisionRecorded), what="DecisionRecorded")
        recorded = recorder.of(DecisionRecorded)[0]
        assert isinstance(recorded, DecisionRecorded)
        assert recorded.decision.trigger == "operator"
        assert recorded.decision.actor == services.settings.operator_name
        await wait_for(pilot, lambda: app.overview is not None
                       and app.overview.latest_decision is not None
                       and app.overview.latest_decision.id == recorded.decision.id,
                       what="the overview to show the new decision")
        await pilot.pause()
        assert recorded.decision.decision in _text(app.screen.query_one(LatestDecision))
        assert services.decisions(5)[0].id == recorded.decision.id
    services.close()


@pytest.mark.slow
async def test_views_switch_with_numbers_and_tab(populated_home: Path) -> None:
    app, services = make_console(now=CONSOLE_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.history_rows, what="history rows")
        for key, screen_type in (("2", HistoryScreen), ("3", ApprovalsScreen),
                                 ("4", LogScreen), ("1", OverviewScreen)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen_type), key
        await pilot.press("tab")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one(DecisionTable)
        assert table.row_count == 2  # two checks; the retrain belongs to the second
        details = _text(app.screen.query_one("#history-details", Static))
        assert "McNemar" in details and "Reasoning" in details
        assert "challenger v2" in details
        await pilot.press("shift+tab")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("4")
        await pilot.pause()
        log = app.screen.query_one(Log)
        assert any("Decision: RETRAIN" in line for line in log.lines)
    services.close()


async def test_log_streams_new_lines(trained_home: Path) -> None:
    app, services = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        services.monitor_log.write("hello from another thread")
        log = app.screen.query_one(Log)
        await wait_for(pilot, lambda: any("hello from another thread" in line
                                          for line in log.lines), what="the streamed line")
    services.close()


async def test_help_screen_lists_every_key(data_home: Path) -> None:
    app, services = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = _text(app.screen.query_one("#help-keys", Static))
        for word in ("Check", "Retrain", "Approve", "Reject", "Rollback", "Overview",
                     "History", "Approvals", "Log", "Quit", "tab"):
            assert word in keys, word
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
    services.close()


async def test_a_failing_action_is_a_one_line_toast(trained_home: Path) -> None:
    """Rollback with no previous version: the engine's one-line error, no traceback."""
    app, services = make_console()
    recorder = Recorder()
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        worker = app.rollback()
        await wait_for(pilot, lambda: worker.is_finished, what="the rollback worker")
        await wait_for(pilot, recorder.notifications, what="a toast")
        (toast,) = recorder.notifications()
        assert toast.title == "rollback failed"
        assert toast.severity == "error"
        assert toast.message == "there is no previous version to roll back to"
    services.close()


async def test_approve_without_pending_warns(trained_home: Path) -> None:
    app, services = make_console()
    recorder = Recorder()
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.overview is not None, what="first overview")
        await pilot.press("a")
        await wait_for(pilot, recorder.notifications, what="a toast")
        assert "no challenger is waiting" in recorder.notifications()[0].message
        assert not isinstance(app.screen, ConfirmModal)
    services.close()


def test_one_line_keeps_spamops_messages_and_names_other_errors() -> None:
    from engine.errors import ConflictError

    assert one_line(ConflictError("a retrain is already running")) == (
        "a retrain is already running")
    assert one_line(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert one_line(None) == "unknown error"


def test_console_is_built_without_starting_anything(data_home: Path) -> None:
    services = Services(load_settings())
    app = SpamopsConsole(services, run_scheduler=False)
    assert app.overview is None and app.pending == []
    assert app.scheduler_view.state == "disabled"
