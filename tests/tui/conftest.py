"""Fixtures of the console tests: data homes with history, built once per session through the
real engine (a simulated clock, so every timestamp is fixed), copied per test.

``populated_home``: champion v2 deployed by a drift-triggered retrain over v1, two snapshots,
two decisions. ``pending_home``: the same drifted traffic under ``approval_policy = "manual"``,
so challenger v2 waits for an operator. Model creation times in the MLflow registry are set to
fixed instants too, so the overview renders the same on every run (snapshot tests).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.conftest import copy_home, dataset_source

TEMPLATE_START = datetime(2025, 1, 6, 8, 0)
"""Simulated time of the first traffic in the templates."""
CONSOLE_NOW = datetime(2025, 1, 6, 12, 0)
"""Simulated "now" of consoles opened on a template (after everything in it)."""
MANUAL_POLICY_ENV = "SPAMOPS_MONITORING__APPROVAL_POLICY"


def _fix_model_times(home: Path) -> None:
    """Version v was "created" at 07:00 + (v - 1) * 2h on the template day."""
    con = sqlite3.connect(home / "mlflow.db")
    for (version,) in con.execute("SELECT version FROM model_versions").fetchall():
        when = datetime(2025, 1, 6, 7, 0) + timedelta(hours=2 * (int(version) - 1))
        con.execute("UPDATE model_versions SET creation_time = ? WHERE version = ?",
                    (int(when.timestamp() * 1000), version))
        con.execute("UPDATE tags SET value = ? WHERE key = 'trained_at' AND run_uuid = "
                    "(SELECT run_id FROM model_versions WHERE version = ?)",
                    (when.isoformat(timespec="seconds"), version))
    con.commit()
    con.close()


def _build(home: Path, template: Path, *, manual: bool) -> None:
    from engine.clock import SimulatedClock
    from engine.config import load_settings
    from engine.services import Services

    copy_home(template, home)
    old = os.environ.get(MANUAL_POLICY_ENV)
    if manual:
        os.environ[MANUAL_POLICY_ENV] = "manual"
    try:
        clock = SimulatedClock(TEMPLATE_START)
        services = Services(load_settings(home=home, dataset_url=dataset_source()), clock=clock)
        if not manual:
            services.simulate(messages=600, label_rate=0.5)
            clock.advance(timedelta(hours=1))
            services.check_now(trigger="operator", actor="tester")
        clock.advance(timedelta(minutes=10))
        services.simulate(messages=1000, drift=0.4, label_rate=0.6, seed=3)
        clock.advance(timedelta(hours=1))
        result = services.check_now(trigger="operator", actor="tester")
        services.close()
    finally:
        if old is None:
            os.environ.pop(MANUAL_POLICY_ENV, None)
        else:
            os.environ[MANUAL_POLICY_ENV] = old
    assert result.retrain is not None, result.decision.reasons
    expected = "PENDING_APPROVAL" if manual else "DEPLOY"
    assert result.retrain.deployment.decision == expected, result.retrain.deployment.reasons
    _fix_model_times(home)


@pytest.fixture(scope="session")
def _populated_template(_trained_template: Path,
                        tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("populated") / "home"
    _build(home, _trained_template, manual=False)
    return home


@pytest.fixture(scope="session")
def _pending_template(_trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("pending") / "home"
    _build(home, _trained_template, manual=True)
    return home


def _copy_home(data_home: Path, template: Path) -> Path:
    copy_home(template, data_home)
    return data_home


@pytest.fixture
def populated_home(data_home: Path, _populated_template: Path) -> Iterator[Path]:
    """A private copy of the populated template (v2 champion, v1 previous)."""
    yield _copy_home(data_home, _populated_template)


@pytest.fixture
def pending_home(data_home: Path, _pending_template: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the pending template; the manual approval policy is in force."""
    monkeypatch.setenv(MANUAL_POLICY_ENV, "manual")
    yield _copy_home(data_home, _pending_template)


async def wait_for(pilot: Pilot[None], condition: Callable[[], object],
                   timeout: float = 30.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` is true (workers are threads: poll, don't sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.05)


async def in_thread(func: Callable[[], object]) -> object:
    """Run blocking engine work (another "process" writing) without blocking the app's loop."""
    return await asyncio.to_thread(func)
