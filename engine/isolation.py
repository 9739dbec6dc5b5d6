"""Heavy, occasional work of a long-lived process, run in a child process that then exits.

A check loads the champion and builds its drift detector; a retrain fits a challenger and
loads both models to compare them. In the process that asked, that work leaves its peak
behind: CPython and glibc keep freed memory for reuse rather than give it back, and the
libraries it imports stay mapped. Measured on this project's model (``scripts/benchmarks/
soak.py``, issue 14): the first check in a process costs ~120 MiB of RSS that never comes back,
a challenger another 25-50 MiB. A long-lived process (``spamops serve``, ``spamops monitor``)
therefore runs these operations through ``run_in_child``: a fresh interpreter
(``python -m engine.isolation``; no ``fork``, so nothing of the parent's heap is copied, and
no re-import of the parent's ``__main__`` as ``multiprocessing``'s *spawn* would do) builds
its own ``Services`` for the same settings, runs the operation, sends back its result as a
pickle on a pipe, and exits; the parent's heap never holds what the operation allocated.

The child keeps every guarantee the operation had in-process, since those rest on the data
home, not on the process: the check and retrain locks are ``flock``s on files, alias moves are
recorded intents, the store is opened with the usual back-off. What is different:

- the child dies with its parent (``PR_SET_PDEATHSIG``): a parent killed with SIGKILL takes
  the child's work down with it, as when the work ran in-process; recovery treats it the
  same way (its retraining event names the child's pid, which is gone);
- progress messages and monitor-log lines are relayed to the parent's callbacks as they
  happen (the console and ``--check-now`` print them live);
- an error comes back as the same ``SpamopsError`` class with its message; anything else the
  child raised, or the child's death, becomes a ``SpamopsError`` that says so.

Costs: a child start-up (imports, opening the store, loading the model) of a few seconds per
operation: nothing next to a check interval of minutes. Tests and short-lived commands keep
running operations in-process (``Services.isolate_heavy_work`` is off by default).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.errors import SpamopsError

if TYPE_CHECKING:
    from engine.config import Settings

_PR_SET_PDEATHSIG = 1
Relay = Callable[[str], None]


def run_in_child(settings: Settings, operation: str, kwargs: dict[str, Any], *,
                 progress: Relay | None = None, log_line: Relay | None = None) -> Any:
    """``Services(settings).<operation>(**kwargs)`` in a fresh child process; its result.

    Args:
        settings: the ``Settings`` of the calling process; the child gets the same values
            (``model_dump``, then ``model_validate``: not re-read from files or environment).
        operation: the name of a ``Services`` method (``check_now``, ``retrain``).
        kwargs: its keyword arguments (picklable; ``progress`` is relayed, not passed).
        progress: called in this process with each progress message of the operation.
        log_line: called in this process with each monitor-log line the child writes (the
            child has already written it to ``logs/monitor.log``).

    Raises:
        SpamopsError: the error the operation raised (same class when it is importable and
            takes a message), or one saying the child died (exit code or signal).
    """
    child = subprocess.Popen([sys.executable, "-m", "engine.isolation", str(os.getpid())],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    try:
        try:
            with child.stdin:
                pickle.dump((settings.model_dump(), operation, kwargs, progress is not None),
                            child.stdin)
        except BrokenPipeError:
            pass  # it died before reading its request: said below, at the end of its output
        while True:
            try:
                kind, payload = pickle.load(child.stdout)
            except (EOFError, pickle.UnpicklingError):  # it exited, or died mid-message
                code = child.wait()
                raise SpamopsError(f"the {operation} process died before it answered "
                                   f"({_exit_text(code)})") from None
            if kind == "progress" and progress is not None:
                progress(payload)
            elif kind == "log" and log_line is not None:
                log_line(payload)
            elif kind == "result":
                return payload
            elif kind == "error":
                raise _rebuild(*payload)
    finally:
        child.stdout.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:  # it answered but does not exit: no orphan left
            child.kill()
            child.wait()


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _rebuild(module: str, name: str, message: str) -> SpamopsError:
    """The child's exception as this process's: the same SpamopsError class if possible."""
    with contextlib.suppress(Exception):
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, SpamopsError):
            return cls(message)
    return SpamopsError(f"{name}: {message}" if message else name)


def _die_with(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only)."""
    libc_name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    if libc_name:
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL),
                                                     0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _child_main(parent: int) -> None:
    """The child: read the request on stdin, send ``(kind, payload)`` pickles on stdout.

    Anything else that writes to stdout (a library's print) goes to stderr instead, so the
    message stream stays intact. Ctrl-C at a terminal reaches the whole process group: the
    child ignores SIGINT and the parent decides (a stopping scheduler waits for its running
    job, as it did in-process).
    """
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    lock = threading.Lock()

    def send(kind: str, payload: Any) -> None:
        data = pickle.dumps((kind, payload))
        with lock, contextlib.suppress(OSError):  # the parent is gone: nothing to tell
            out.write(data)
            out.flush()

    values, operation, kwargs, relay_progress = pickle.load(sys.stdin.buffer)
    from engine.config import Settings
    from engine.services import Services

    services = Services(Settings.model_validate(values))
    try:
        services.monitor_log.subscribe(lambda line: send("log", line))
        if relay_progress:
            kwargs = {**kwargs, "progress": lambda message: send("progress", message)}
        try:
            result = getattr(services, operation)(**kwargs)
        except Exception as exc:  # sent back as class and message; the parent raises it
            message = str(exc).splitlines()[0] if str(exc) else ""
            send("error", (type(exc).__module__, type(exc).__name__, message))
        else:
            try:
                send("result", result)
            except Exception as exc:  # a result that cannot be pickled: a bug, said so
                send("error", ("builtins", type(exc).__name__,
                               f"the {operation} result could not be sent back: {exc}"))
    finally:
        services.close()
        out.close()


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
