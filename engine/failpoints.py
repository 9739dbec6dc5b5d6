"""Named points where a test can make this process fail, to prove recovery from a crash.

``failpoint("alias.between_writes")`` does nothing unless the environment variable
``SPAMOPS_FAILPOINTS`` names it: ``name=kill`` sends this process SIGKILL there (a crash, as a
power cut or the OOM killer would), ``name=raise`` raises ``InjectedFault`` the first time
the process passes there (a write that failed once, as a busy sqlite registry would; the
clean-up that follows passes the same point without failing). Several are separated by
commas. The idea and the name are those of FreeBSD's fail points and TiKV's ``fail-rs``; only
the crash-recovery tests set the variable. Each point costs one environment lookup; they sit
on rare paths (alias moves), never on a request's path.

Points: ``alias.between_writes`` (between two MLflow alias writes of one champion change),
``alias.before_completion`` (aliases moved, the store's records not yet written).
"""

from __future__ import annotations

import os
import signal

ENV = "SPAMOPS_FAILPOINTS"

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
        if name not in _fired:
            _fired.add(name)
            raise InjectedFault(f"injected fault at {name}")
