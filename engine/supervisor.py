"""Child processes that never outlive their parent: ``spamops up`` and ``run_foreground``.

``Supervisor`` (``spamops up``): each child is a ``spamops`` command in its own process group;
its output is prefixed with its name; a child that exits is reported, whatever it left behind
is killed (its process group, and any process carrying its ``SUPERVISED_ENV`` mark, so a
grandchild that made its own group cannot keep the port), and it is restarted with exponential
back-off (reset after it has stayed up a while); stopping sends SIGTERM to every group, then
SIGKILL after a grace period, so no process is left behind. The current children are written
to ``<home>/run/up.json`` so operators and tests can see them.

``run_foreground`` (``spamops dashboard``): one child in its own process group, which the
kernel kills if this process dies (``PR_SET_PDEATHSIG``); SIGINT, SIGTERM and SIGHUP are
forwarded to its group as SIGTERM, then SIGKILL after the grace period.

No UI code lives here.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STABLE_SECONDS = 30.0
"""A child that stayed up this long gets its back-off reset."""
MAX_BACKOFF_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0
"""How long a child may take to stop after SIGTERM before its group gets SIGKILL."""

SUPERVISED_ENV = "SPAMOPS_SUPERVISED"
"""Environment mark ``<supervisor pid>:<service>`` that every child of ``up`` (and everything
it starts) inherits, so the supervisor can find what a dead child left behind."""

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServiceSpec:
    """One supervised service."""

    name: str
    argv: Sequence[str]
    url: str | None = None
    """Where it serves, for the start-up banner."""


@dataclass
class _Child:
    spec: ServiceSpec
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = 1.0
    restart_at: float | None = None
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Starts, watches, restarts and stops a group of child processes."""

    def __init__(self, specs: Sequence[ServiceSpec], *, env: dict[str, str],
                 status_file: Path, out: Callable[[str], None]) -> None:
        self._children = [_Child(spec) for spec in specs]
        self._env = env
        self._status_file = status_file
        self._out = out
        self._out_lock = threading.Lock()
        self._width = max(len(s.name) for s in specs)

    def _say(self, name: str, line: str) -> None:
        with self._out_lock:
            self._out(f"{name:<{self._width}} | {line}")

    def _spawn(self, child: _Child) -> None:
        env = {**self._env, SUPERVISED_ENV: self._mark(child.spec.name)}
        process = subprocess.Popen(
            list(child.spec.argv), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        child.process = process
        child.started = time.monotonic()
        child.restart_at = None
        reader = threading.Thread(target=self._pump, args=(child.spec.name, process),
                                  daemon=True)
        reader.start()
        child.readers.append(reader)
        self._say(child.spec.name, f"started (pid {process.pid})"
                  + (f" on {child.spec.url}" if child.spec.url else ""))
        self._write_status()

    @staticmethod
    def _mark(name: str) -> str:
        return f"{os.getpid()}:{name}"

    def _reap_leftovers(self, child: _Child) -> None:
        """Kill what a dead child left behind: its process group, and every process carrying
        its mark (a grandchild in a group of its own), so its port is free for the restart."""
        if child.process is not None:
            _signal_group(child.process, signal.SIGKILL)
        for pid in marked_processes(self._mark(child.spec.name)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            self._say(child.spec.name, f"killed leftover process {pid}")

    def _pump(self, name: str, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            self._say(name, raw.decode("utf-8", "replace").rstrip())

    def _write_status(self) -> None:
        self._status_file.parent.mkdir(parents=True, exist_ok=True)
        status = {
            "supervisor_pid": os.getpid(),
            "children": {c.spec.name: {"pid": c.process.pid if c.process else None,
                                       "restarts": c.restarts, "url": c.spec.url}
                         for c in self._children},
        }
        partial = self._status_file.with_suffix(".partial")
        partial.write_text(json.dumps(status))
        partial.replace(self._status_file)

    def start(self) -> None:
        """Start every child."""
        for child in self._children:
            self._spawn(child)

    def poll(self) -> None:
        """Notice children that exited and restart them when their back-off has passed."""
        now = time.monotonic()
        for child in self._children:
            process = child.process
            if process is not None and process.poll() is not None and child.restart_at is None:
                self._reap_leftovers(child)
                if now - child.started >= STABLE_SECONDS:
                    child.backoff = 1.0
                self._say(child.spec.name, f"exited with code {process.returncode}; "
                          f"restarting in {child.backoff:.0f} s")
                child.restart_at = now + child.backoff
                child.backoff = min(child.backoff * 2, MAX_BACKOFF_SECONDS)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)

    def run(self, stop: threading.Event) -> None:
        """Start, then watch until ``stop`` is set; always stops the children."""
        try:
            self.start()
            while not stop.wait(0.25):
                self.poll()
        finally:
            self.stop()

    def stop(self) -> None:
        """SIGTERM every child group, SIGKILL what is left after the grace period."""
        for child in self._children:
            if child.process is not None and child.process.poll() is None:
                _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self._children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait(timeout=5)
            self._reap_leftovers(child)  # grandchildren, if any
            self._say(child.spec.name, "stopped")
        for child in self._children:
            for reader in child.readers:
                reader.join(timeout=2)
        self._status_file.unlink(missing_ok=True)


def _signal_group(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def marked_processes(mark: str) -> list[int]:
    """Processes of this user whose environment holds ``SUPERVISED_ENV=<mark>`` (Linux
    ``/proc``; empty elsewhere)."""
    needle = f"{SUPERVISED_ENV}={mark}".encode()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when its parent dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``; a no-op elsewhere), so a parent killed with SIGKILL, which
    cannot forward anything, still leaves nothing serving behind."""
    libc_name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None

    def preexec() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def run_foreground(argv: Sequence[str], *, env: dict[str, str],
                   grace: float = STOP_GRACE_SECONDS) -> int:
    """Run ``argv`` as one child in its own process group until it exits or this process is
    asked to stop; returns the child's exit code, or 0 after a requested stop.

    SIGINT, SIGTERM and SIGHUP to this process become SIGTERM to the child's whole group; a
    group still alive ``grace`` seconds later gets SIGKILL. The child dies with this process
    even if this one is killed outright (``PR_SET_PDEATHSIG``). Call from the main thread.
    """
    stop = threading.Event()
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in handled}
    try:
        process = subprocess.Popen(list(argv), env=env, process_group=0,
                                   preexec_fn=_die_with_parent(os.getpid()))
        try:
            while process.poll() is None:
                if stop.wait(0.2):
                    stop_group(process, grace)
                    return 0
            return process.returncode
        finally:
            _signal_group(process, signal.SIGKILL)  # anything the child left in its group
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_group(process: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM ``process``'s group, wait up to ``grace`` seconds, then SIGKILL the group."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=5)
    _signal_group(process, signal.SIGKILL)
