"""The console hosts the scheduler when it is free and shows the holder when it is not; the
command palette offers the same actions as the keys."""

from __future__ import annotations

from pathlib import Path

from engine.config import load_settings
from engine.scheduling import SchedulerLock
from engine.services import Services
from tests.tui.conftest import wait_for
from tests.tui.helpers import make_console
from tui.app import SpamopsConsole
from tui.widgets import ConfirmModal


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
