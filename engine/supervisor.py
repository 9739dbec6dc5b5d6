"""Run several spamops services as one supervised group (``spamops up``).

Each child is a ``spamops`` command in its own process group; its output is prefixed with its
name; a child that exits is reported and restarted with exponential back-off (reset after it
has stayed up a while); stopping sends SIGTERM to every group, then SIGKILL after a grace
period, so no process is left behind. The current children are written to
``<home>/run/up.json`` so operators and tests can see them. No UI code lives here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STABLE_SECONDS = 30.0
"""A child that stayed up this long gets its back-off reset."""
MAX_BACKOFF_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0


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
        process = subprocess.Popen(
            list(child.spec.argv), env=self._env, stdin=subprocess.DEVNULL,
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
            _signal_group(child.process, signal.SIGKILL)  # grandchildren, if any
            self._say(child.spec.name, "stopped")
        for child in self._children:
            for reader in child.readers:
                reader.join(timeout=2)
        self._status_file.unlink(missing_ok=True)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
