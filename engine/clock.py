"""Where the engine gets its notion of "now".

All engine timestamps are naive UTC ``datetime`` values (DuckDB ``TIMESTAMP``). Code takes a
``Clock`` instead of calling ``datetime.now`` so that the demo can replay a week in seconds
with every timestamp in the history consistent (issue 9). This module owns no I/O.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time."""

    def now(self) -> datetime:
        """Return the current time as a naive UTC datetime."""
        ...


def utcnow() -> datetime:
    """Return the wall-clock time as a naive UTC datetime."""
    return datetime.now(UTC).replace(tzinfo=None)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the wall-clock time (naive UTC)."""
        return utcnow()


class SimulatedClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the simulated time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time."""
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (must not go backwards)."""
        with self._lock:
            if when < self._now:
                raise ValueError("a simulated clock cannot go backwards")
            self._now = when


class ShiftedClock:
    """The real clock moved by a fixed ``offset`` (``spamops simulate`` dates predictions
    ``--label-delay-hours`` in the past, so that their late labels are dated now, never in the
    future)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        """Return the wall-clock time plus the offset (naive UTC)."""
        return utcnow() + self.offset
