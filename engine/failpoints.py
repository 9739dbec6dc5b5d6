"""Named points where a test can make this process fail, to prove recovery from a crash.

``failpoint("alias.between_writes")`` does nothing unless the environment variable
``SPAMOPS_FAILPOINTS`` names it: ``name=kill`` sends this process SIGKILL there (a crash, as a
power cut or the OOM killer would), ``name=raise`` raises ``InjectedFault`` the first time
the process passes there (a write that failed once, as a busy sqlite registry would; the
clean-up that follows passes the same point without failing), ``name=pause`` stops there
(the first time) until a test lets it go: it creates ``<name>.paused`` in the folder
``SPAMOPS_FAILPOINTS_DIR`` and waits until ``<name>.resume`` appears there (so a test can
restart a server between two phases of a real process). Several are separated by
commas. The idea and the name are those of FreeBSD's fail points and TiKV's ``fail-rs``; only
the crash-recovery tests set the variable. Each point costs one environment lookup; they sit
on rare paths (alias moves, a retrain's phases), never on a request's path.

Points: ``alias.between_writes`` (between two MLflow alias writes of one champion change),
``alias.before_completion`` (aliases moved, the store's records not yet written),
``retrain.after_data``, ``retrain.after_training``, ``retrain.after_compare``,
``retrain.before_outcome`` (a retrain's phase boundaries, each just before its lock check),
``check.before_record`` (a check's window scored, its lock check and records next).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ENV = "SPAMOPS_FAILPOINTS"
DIR_ENV = "SPAMOPS_FAILPOINTS_DIR"
PAUSE_LIMIT_SECONDS = 600.0
"""A paused point goes on by itself after this long, so a failed test never leaves a
process waiting forever."""

_fired: set[str] = set()
"""``raise`` points that already failed in this process."""


class InjectedFault(RuntimeError):
    """The failure a ``name=raise`` fail point raises."""


def failpoint(name: str) -> None:
    """Fail here if ``SPAMOPS_FAILPOINTS`` says so; otherwise return at once."""
    configured = os.environ.get(ENV)
    if not configured:
        return
    for item in configured.split(","):
        point, _, action = item.strip().partition("=")
        if point != name:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if action == "pause":
            if name not in _fired:
                _fired.add(name)
                _pause(name)
            return
        if name not in _fired:
            _fired.add(name)
            raise InjectedFault(f"injected fault at {name}")


def _pause(name: str) -> None:
    folder = Path(os.environ.get(DIR_ENV) or ".")
    (folder / f"{name}.paused").touch()
    resume = folder / f"{name}.resume"
    deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
    while not resume.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
