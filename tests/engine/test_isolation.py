"""Checks and retrains of long-lived processes run in a child process (``engine.isolation``):
the work is the same, its memory leaves with the child (issue 14, the soak's RSS target)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.errors import Busy, ConflictError, SpamopsError
from engine.locks import pid_alive
from engine.services import Services

TEXTS = ["WINNER!! claim your free prize now, call 09061701461",
         "are we still on for dinner tonight?", "URGENT: your parcel is held, pay the fee"]


@pytest.fixture
def logged_home(trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The trained home with a window of 30 predictions, logged by another process's
    ``Services`` (so the services under test have loaded nothing)."""
    monkeypatch.setenv("SPAMOPS_MONITORING__MIN_WINDOW", "20")
    writer = Services(load_settings())
    writer.predict([f"{TEXTS[i % 3]} ({i})" for i in range(30)], source="api")
    writer.close()
    return trained_home


def children_of(pid: int) -> list[int]:
    """The isolation children of ``pid`` (``python -m engine.isolation``), not every child:
    a session fixture's helpers (the PostgreSQL server's watchdog) are children of pytest too."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:  # gone meanwhile
                continue
            if b"engine.isolation" in argv:
                found.append(int(child))
    return found


def eventually(condition: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def test_an_isolated_check_is_a_check_and_leaves_no_model_in_the_parent(
        logged_home: Path) -> None:
    services = Services(load_settings())
    services.isolate_heavy_work = True
    heard: list[str] = []
    services.monitor_log.subscribe(heard.append)
    try:
        result = services.check_now(trigger="operator", retrain=False)

        assert result.snapshot is not None and result.decision.window_size == 30
        assert services.decisions(limit=1)[0].id == result.decision.id  # saved by the child
        assert any("Decision:" in line for line in heard)  # relayed as it was written
        log = (logged_home / "logs" / "monitor.log").read_text().splitlines()
        assert all(log.count(line) == 1 for line in heard)  # written once, by the child
        assert services.registry.loaded_versions() == []  # no model ever loaded here
    finally:
        services.close()


def test_the_childs_refusal_is_raised_as_the_same_error(logged_home: Path) -> None:
    holder = Services(load_settings())
    services = Services(load_settings())
    services.isolate_heavy_work = True
    try:
        # Another process's check holds the data home: the child is refused.
        with (holder.monitor._check_lock(),
              pytest.raises(Busy, match="a monitoring check is already running")):
            services.check_now(trigger="operator", retrain=False)
        assert issubclass(Busy, ConflictError)  # the API's 409
    finally:
        holder.close()
        services.close()


@pytest.mark.slow
def test_a_child_that_dies_is_reported_not_waited_for(logged_home: Path) -> None:
    services = Services(load_settings())
    services.isolate_heavy_work = True
    errors: list[BaseException] = []

    def check() -> None:
        try:
            services.check_now(trigger="operator", retrain=False)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    thread = threading.Thread(target=check)
    thread.start()
    child = eventually(lambda: children_of(os.getpid()), 30, "the check's child process")
    assert isinstance(child, list)
    os.kill(child[0], signal.SIGKILL)
    thread.join(60)
    services.close()
    assert len(errors) == 1 and isinstance(errors[0], SpamopsError)
    assert "died before it answered (killed by SIGKILL)" in str(errors[0])


@pytest.mark.slow
def test_the_child_dies_with_a_parent_killed_outright(logged_home: Path) -> None:
    """A SIGKILLed API or monitor takes its check down with it, as when it ran in-process."""
    parent = subprocess.Popen([sys.executable, "-c", (
        "from engine.config import load_settings\n"
        "from engine.services import Services\n"
        "s = Services(load_settings())\n"
        "s.isolate_heavy_work = True\n"
        "s.check_now(trigger='operator', retrain=False)\n")], env=os.environ.copy())
    try:
        child = eventually(lambda: children_of(parent.pid), 60, "the check's child process")
        assert isinstance(child, list)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        eventually(lambda: not pid_alive(child[0]) or _zombie(child[0]), 10,
                   "the child to die with its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.slow
def test_an_isolated_retrain_relays_its_progress(logged_home: Path) -> None:
    services = Services(load_settings())
    services.isolate_heavy_work = True
    progress: list[str] = []
    try:
        result = services.retrain(trigger="operator", progress=progress.append)

        assert result.event.status == "completed"
        assert "training the challenger" in progress
        assert services.retraining_history(limit=1)[0].id == result.event.id
        assert services.registry.loaded_versions() == []
    finally:
        services.close()
