"""``MonitorLog``: the timestamped monitoring log, and the audit anchors written into it.

Owns ``<home>/logs/monitor.log``: one line per step of a check or retrain (engine clock),
forwarded to listeners (the CLI's output, the console), and the audit chain's anchors
(``audit verify`` reads them back; the database cannot rewrite a plain file). It must not
decide or record anything else.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.audit import ANCHOR_PREFIX, Anchor, format_anchor, parse_anchors
from engine.clock import Clock
from engine.records import AuditRecord

if TYPE_CHECKING:
    pass

LogListener = Callable[[str], None]


class MonitorLog:
    """Timestamped lines in ``logs/monitor.log`` (engine clock), forwarded to listeners."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._listeners: list[LogListener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: LogListener) -> None:
        """Call ``listener`` with every new line (for printing or the console)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: LogListener) -> None:
        """Stop forwarding lines to ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def write(self, message: str) -> str:
        """Append one line and return it."""
        line = f"[{self.clock.now():%Y-%m-%d %H:%M:%S}] {message}"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        for listener in list(self._listeners):
            listener(line)
        return line

    def relay(self, line: str) -> None:
        """Tell the listeners a line another process (``engine.isolation``'s child) has
        already written to the file; the file is not written again."""
        for listener in list(self._listeners):
            listener(line)

    def anchor(self, record: AuditRecord) -> None:
        """Append the audit chain's new head (seq, hash) as an anchor line.

        Listeners are not told: anchors are for ``audit verify``, not for people. The log is
        a plain file the database cannot rewrite (analyst SQL has no file access).
        """
        line = f"[{self.clock.now():%Y-%m-%d %H:%M:%S}] {format_anchor(record.seq, record.hash)}"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def anchors(self) -> list[Anchor]:
        """Every audit anchor in the log, oldest first."""
        try:
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                return parse_anchors(handle)
        except FileNotFoundError:
            return []

    def last_anchor(self) -> Anchor | None:
        """The newest audit anchor, read from the end of the log (for ``/metrics``)."""
        try:
            with self.path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                block = 65536
                while True:
                    start = max(0, size - block)
                    handle.seek(start)
                    found = parse_anchors(handle.read().decode("utf-8", "replace")
                                          .splitlines())
                    if found or start == 0:
                        return max(found, key=lambda a: a.seq) if found else None
                    block *= 4
        except FileNotFoundError:
            return None

    def tail(self, lines: int = 200) -> list[str]:
        """The last ``lines`` lines of the log for people (audit anchors left out)."""
        try:
            content = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line for line in content if ANCHOR_PREFIX not in line][-lines:]
