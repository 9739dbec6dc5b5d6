"""``StoreProbe``: whether the history store answers, checked off the caller's thread.

Owns the background probe behind ``Services.health`` (so ``/health`` answers at once while
another process holds the database). It must not open the store any other way than the
facade does, and must never raise to its caller.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.errors import SpamopsError, StoreError

if TYPE_CHECKING:
    from engine.services.core import ServicesBase


@dataclass(frozen=True)
class ProbeStatus:
    """The history store as the last background probe found it."""

    reachable: bool
    problem: str | None


class StoreProbe:
    """Checks the history store off the caller's thread.

    ``status()`` returns at once: the last result, or, while a probe has been waiting for
    longer than ``BUSY_AFTER_SECONDS`` (another process holds the file), "busy". A probe
    starts when the last result is older than ``PROBE_SECONDS``.
    """

    PROBE_SECONDS = 2.0
    BUSY_AFTER_SECONDS = 0.25

    def __init__(self, services: ServicesBase) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._result: ProbeStatus | None = None
        self._at = float("-inf")
        self._started: float | None = None
        self._done = threading.Event()

    def status(self, wait: float = 0.0) -> ProbeStatus:
        """The latest known state; starts a probe when one is due.

        Args:
            wait: with no result yet, wait up to this long for the first one.
        """
        now = time.monotonic()
        if now - self._at >= self.PROBE_SECONDS and self._lock.acquire(blocking=False):
            self._started = now
            self._done.clear()
            threading.Thread(target=self._probe, daemon=True, name="spamops-probe").start()
        if self._result is None and wait > 0:
            self._done.wait(wait)
        started, result = self._started, self._result
        if started is not None and time.monotonic() - started > self.BUSY_AFTER_SECONDS:
            waited = time.monotonic() - started
            return ProbeStatus(False, f"history database busy: another process holds it "
                               f"(waiting {waited:.0f} s); predictions wait in the spool")
        if result is None:
            return ProbeStatus(False, "history database not checked yet")
        return result

    def _probe(self) -> None:
        services = self._services
        try:
            if not services._store_exists():
                raise StoreError("no history database yet: run `spamops setup-database`")
            store = services._store
            if store is None:
                if not services.read_only and services._opener is not None:
                    if services._open_error:  # e.g. the data home key file is missing
                        raise StoreError(f"history database not open: "
                                         f"{services._open_error}; predictions are still "
                                         "logged to the spool")
                    raise StoreError("history database not open yet (another process holds "
                                     "it, or it is being migrated); predictions wait in the "
                                     "spool")
                store = services.store
            store.schema_version()
            result = ProbeStatus(True, None)
        except SpamopsError as exc:
            result = ProbeStatus(False, str(exc).splitlines()[0])
        except Exception as exc:  # the probe must never die silently
            result = ProbeStatus(False, f"store check failed: {exc}")
        self._result = result
        self._at = time.monotonic()
        self._started = None
        self._done.set()
        self._lock.release()
