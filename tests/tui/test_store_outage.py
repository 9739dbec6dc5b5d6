"""A PostgreSQL history that hangs or goes away never freezes the console: every store read of
its periodic refresh (overview, scheduler status and lock holder) runs in a worker, and the
console says "store unreachable" until a refresh succeeds again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot

from engine.config import load_settings
from engine.scheduling import AdvisorySchedulerLock
from engine.services import Services
from tests.postgres import PostgresServer
from tests.tui.conftest import wait_for
from tests.tui.test_console import _text
from tui.app import SpamopsConsole
from tui.widgets import SchedulerStatusPanel
from tui.widgets.view_bar import ViewBar

KEY_SECONDS = 2.5
"""Longest a view switch may take while the store is away: half the 5 s connect timeout a
read on the interface's thread would wait (a switch takes about 0.3 s on a loaded machine)."""


async def _worst_key_latency(pilot: Pilot[None], app: SpamopsConsole, seconds: float) -> float:
    """Switch views (keys 1 and 2) for ``seconds``; the slowest switch in seconds. The test
    shares the app's loop, so a handler blocked on the store delays the switch as much."""
    worst = 0.0
    deadline = time.monotonic() + seconds
    modes = [("2", "history"), ("1", "overview")]
    step = 0
    while time.monotonic() < deadline:
        key, mode = modes[step % 2]
        step += 1
        started = time.monotonic()
        await pilot.press(key)
        await wait_for(pilot, lambda mode=mode: app.current_mode == mode, timeout=15,  # type: ignore[misc]
                       what=f"the {mode} view")
        worst = max(worst, time.monotonic() - started)
        await pilot.pause(0.1)
    if app.current_mode != "overview":  # end where it started
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "overview", what="the overview")
    return worst


def _reads_idle(app: SpamopsConsole) -> bool:
    """Whether no store read of the console is running (none waits on the server)."""
    return not any(app._group_busy(group) for group in ("refresh", "scheduler-status"))


async def test_console_answers_keys_while_postgresql_hangs_then_says_unreachable(
        trained_home: Path, postgres_server: PostgresServer, postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    monkeypatch.setenv("SPAMOPS_MONITORING__TAKEOVER_SECONDS", "3")  # standby retries 0.5 s
    services = Services(load_settings())
    services.store  # noqa: B018 (opens and migrates the shared history)
    # Another host holds the scheduler: the console stands by and reads the holder from
    # PostgreSQL on every status read (a new connection each time).
    lock = AdvisorySchedulerLock(services.store, trained_home.parent / "other-host")
    assert lock.acquire("monitor")
    app = SpamopsConsole(services, run_scheduler=True, poll_seconds=0.2)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.scheduler_view.holder is not None,
                           what="the holder")
            assert app.scheduler_view.state == "standby"
            # The server hangs: each holder read waits for the 5 s connect timeout.
            with postgres_server.paused():
                worst = await _worst_key_latency(pilot, app, seconds=7)
            assert worst < KEY_SECONDS, f"a key took {worst:.2f}s while PostgreSQL hung"
            # The reads that waited meanwhile get their answer (or their timeout) now.
            await wait_for(pilot, lambda: app.store_problem == "" and _reads_idle(app),
                           timeout=30, what="the reads after the hang")
            # The server is down (as if it crashed): the console says so and answers keys.
            await asyncio.to_thread(postgres_server.stop, "immediate")
            await wait_for(pilot, lambda: app.store_problem != "", timeout=30,
                           what="the store to be reported unreachable")
            assert "cannot be reached" in app.store_problem
            await pilot.pause(0.3)
            assert "store unreachable" in _text(app.screen.query_one(ViewBar))
            panel = app.screen.query_one(SchedulerStatusPanel)
            assert "store unreachable: holder unknown" in _text(panel)
            worst = await _worst_key_latency(pilot, app, seconds=2)
            assert worst < KEY_SECONDS, f"a key took {worst:.2f}s while PostgreSQL was down"
            # Back: the next successful refresh clears the state (the lock session ended with
            # the server, so this console may take the scheduler over meanwhile).
            await asyncio.to_thread(postgres_server.start)
            await wait_for(pilot, lambda: app.store_problem == "", timeout=30,
                           what="the store to be reachable again")
            await pilot.pause(0.3)
            assert "store unreachable" not in _text(app.screen.query_one(ViewBar))
    finally:
        if not postgres_server.is_running():
            postgres_server.start()
        lock.release()
        services.close()
