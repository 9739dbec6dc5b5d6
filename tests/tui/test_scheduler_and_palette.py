"""The console hosts the scheduler when it is free and shows the holder when it is not; the
command palette offers the same actions as the keys."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.scheduling import AdvisorySchedulerLock, SchedulerLock
from engine.services import Services
from tests.tui.conftest import wait_for
from tests.tui.helpers import make_console
from tests.tui.test_console import _text
from tui.app import SpamopsConsole
from tui.widgets import ConfirmModal, SchedulerStatusPanel


async def test_console_hosts_the_scheduler_when_it_is_free(trained_home: Path) -> None:
    app, services = make_console(run_scheduler=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.scheduler_view.state == "active",
                       what="the scheduler to become active")
        view = app.scheduler_view
        assert view.next_check is not None and view.next_retrain is not None
        holder = services.scheduler_holder()
        assert holder is not None and holder.kind == "console"
    # Leaving the console released the lock.
    assert services.scheduler_holder() is None
    services.close()


async def test_console_shows_who_holds_the_scheduler(trained_home: Path) -> None:
    lock = SchedulerLock.for_home(trained_home)
    assert lock.acquire("monitor")
    services = Services(load_settings())
    app = SpamopsConsole(services, run_scheduler=True, poll_seconds=0.2)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.scheduler_view.state == "standby",
                           what="standby")
            await wait_for(pilot, lambda: app.scheduler_view.holder is not None,
                           what="the holder")
            assert app.scheduler_view.holder is not None
            assert app.scheduler_view.holder.kind == "monitor"
            await pilot.press("r")  # manual actions are still offered
            await pilot.pause()
            assert isinstance(app.screen, ConfirmModal)
    finally:
        lock.release()
        services.close()


async def test_command_palette_runs_console_actions(trained_home: Path) -> None:
    app, services = make_console()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"retrain")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal),
                       what="the retrain confirmation")
        await pilot.press("n")
    services.close()


async def test_console_names_a_scheduler_holder_of_another_host_and_takes_over(
        trained_home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a PostgreSQL store the console's scheduler panel names the holder's host and pid
    (read from PostgreSQL), and the console takes the scheduler over when it goes away."""
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    monkeypatch.setenv("SPAMOPS_MONITORING__TAKEOVER_SECONDS", "3")  # retry every 0.5 s
    services = Services(load_settings())
    services.store  # noqa: B018 (opens and migrates the shared history)
    lock = AdvisorySchedulerLock(services.store, trained_home.parent / "other-host")
    assert lock.acquire("monitor")
    app = SpamopsConsole(services, run_scheduler=True, poll_seconds=0.2)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.scheduler_view.holder is not None,
                           what="the holder")
            panel = app.screen.query_one(SchedulerStatusPanel)
            await wait_for(pilot, lambda: "monitor on" in _text(panel), what="the panel")
            shown = _text(panel)
            assert "held by another process" in shown
            assert f"monitor on {socket.gethostname()} (pid {os.getpid()})" in shown
            lock.release()
            await wait_for(pilot, lambda: app.scheduler_view.state == "active",
                           what="the takeover")
            await wait_for(pilot, lambda: "running in this console" in _text(panel),
                           what="the panel after the takeover")
            assert "console on" in _text(panel)
    finally:
        lock.release()
        services.close()
