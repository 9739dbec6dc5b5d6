"""Wall and CPU time spent in one kind of work, summed over every time it ran.

Used where a run reports its speed apart from part of its work: ``replay`` reports messages
per second apart from retrains (timed by ``Monitor.retrain``), and apart from every scheduled
job. CPU time is ``time.process_time``: the whole process (every thread), user plus system,
so on a machine shared with other work it says what the run cost where wall time says how
long it waited as well.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Stopwatch:
    """Accumulated seconds; ``timing()`` adds one interval (nesting the same one is an error
    the caller must avoid: it would count the inner interval twice)."""

    wall: float = 0.0
    """Wall-clock seconds (``time.perf_counter``)."""
    cpu: float = 0.0
    """Process CPU seconds (``time.process_time``)."""
    runs: int = 0

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        """Time the ``with`` body into this stopwatch (also when it raises)."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            self.runs += 1

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Inside ``timing()``: leave the ``with`` body out of this stopwatch (it is counted
        by another)."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall -= time.perf_counter() - wall
            self.cpu -= time.process_time() - cpu

    def copy(self) -> Stopwatch:
        """The readings so far (this one keeps running)."""
        return Stopwatch(self.wall, self.cpu, self.runs)

    def since(self, earlier: Stopwatch) -> Stopwatch:
        """What was added after ``earlier`` (a ``copy()`` of this stopwatch)."""
        return Stopwatch(self.wall - earlier.wall, self.cpu - earlier.cpu,
                         self.runs - earlier.runs)
