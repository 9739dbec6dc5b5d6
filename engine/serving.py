"""The champion a serving process scores with: loaded off the request path, never dropped.

``ChampionCache`` follows the registry's ``champion`` alias without restart. Its rules (issue
14, items 2 and 5):

- **A request never waits for the registry.** ``serving()`` returns the loaded champion or
  raises at once (``ChampionLoading`` while the first load runs in the background); only
  ``get()``, for commands that have nothing to serve yet, waits for the first load.
- **The old champion serves until the new one has loaded.** A load that fails (a missing
  artifact, a busy registry) leaves the current model in place; the failure is kept for
  ``/health`` (``status()``) and the load is retried in the background, with the delay
  doubling from ``refresh_seconds`` up to ``MAX_RETRY_SECONDS``.
- **Checks run on a background thread**, at most one at a time, when a caller finds the last
  one older than ``refresh_seconds`` (requests and ``/health`` keep it going; an idle process
  does no work). When this process moves an alias, ``refresh()`` loads the new champion on
  the thread that moved it, so the next request finds it loaded.

Every alias set it reads is handed to ``on_aliases`` when it differs from the last one: the
caches keyed by version (models, drift detectors) keep only what the aliases name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import NoChampionError, SpamopsError
from engine.registry import CHAMPION, Aliases, Registry
from engine.training import scorer_for

logger = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 30.0
"""Longest wait between two attempts to load a champion that failed to load."""


class ChampionLoading(SpamopsError):
    """No champion is loaded in this process yet; one is loading in the background."""

    http_status = 503


@dataclass(frozen=True)
class ChampionStatus:
    """What the cache can say without any I/O (``/health``)."""

    version: int | None
    """The version requests are scored with; None before the first load."""
    wanted: int | None
    """The alias's version when it is not the one serving (loading, or failed to load)."""
    error: str | None
    """The last check's failure, one line; None when it succeeded."""
    failing_for: float | None
    """Seconds since the first of the current run of failures."""


class ChampionCache:
    """The champion pipeline of one process; see the module docstring."""

    def __init__(self, registry: Registry, refresh_seconds: float,
                 on_aliases: Callable[[Aliases], None] | None = None) -> None:
        self._registry = registry
        self._refresh = refresh_seconds
        self._on_aliases = on_aliases or (lambda _aliases: None)
        self._lock = threading.Lock()
        """Held by whoever checks the alias or loads a model: one at a time."""
        self._current: tuple[int, Any] | None = None
        self._checked = float("-inf")
        self._aliases: Aliases | None = None
        self._wanted: int | None = None
        self._error: SpamopsError | None = None
        self._failures = 0
        self._failing_since: float | None = None

    # Reading ------------------------------------------------------------------------------
    def serving(self) -> tuple[int, Any]:
        """The loaded champion (version, model); never waits.

        Raises:
            ChampionLoading: nothing loaded yet; a load runs in the background.
            NoChampionError: the registry has no champion (as of the last check).
        """
        current = self._current
        self._check_if_due(force=current is None)
        if current is not None:
            return current
        error = self._error
        if isinstance(error, NoChampionError):
            raise NoChampionError(str(error))
        raise ChampionLoading("the champion model is loading; try again in a moment"
                              + (f" (last attempt: {error})" if error else ""))

    def get(self) -> tuple[int, Any]:
        """The champion (version, model); waits for the registry only if none is loaded."""
        current = self._current
        if current is not None:
            self._check_if_due()
            return current
        with self._lock:
            if self._current is None:
                self._check()
            assert self._current is not None
            return self._current

    def status(self) -> ChampionStatus:
        """The serving version and the last failure; no I/O (starts a due check)."""
        self._check_if_due(force=self._current is None)
        current, error, since = self._current, self._error, self._failing_since
        return ChampionStatus(
            version=current[0] if current else None, wanted=self._wanted,
            error=str(error) if error else None,
            failing_for=(time.monotonic() - since) if since is not None else None)

    # Loading ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-check the alias now: this process has just moved it.

        A process that serves (a champion is loaded) loads the new one here, on the thread
        that moved the alias; if that fails it keeps serving the old one and retries in the
        background. A process that has not loaded anything only makes the next use check.
        """
        with self._lock:
            if self._current is None:
                self._checked = float("-inf")
                return
            try:
                self._check()
            except SpamopsError as exc:
                logger.warning("the new champion is not loaded yet, still serving v%s: %s",
                               self._current[0], exc)

    def _retry_delay(self) -> float:
        if not self._failures:
            return self._refresh
        return float(min(MAX_RETRY_SECONDS, self._refresh * 2 ** min(self._failures, 10)))

    def _check_if_due(self, *, force: bool = False) -> None:
        due = time.monotonic() - self._checked >= self._retry_delay()
        if (due or (force and not self._failures)) and self._lock.acquire(blocking=False):
            threading.Thread(target=self._check_in_background, daemon=True,
                             name="spamops-champion").start()

    def _check(self) -> None:
        """Read the aliases; load the champion if it moved (the caller holds the lock)."""
        try:
            aliases = self._registry.aliases()
            if aliases != self._aliases:
                self._aliases = aliases
                self._on_aliases(aliases)
            version = aliases.get(CHAMPION)
            if version is None:
                raise NoChampionError("no champion model yet: run `spamops train` first")
            if self._current is None or self._current[0] != version:
                self._wanted = version
                model = self._registry.load(version)
                scorer_for(model)  # compile now, on this thread, not in the first request
                self._current = (version, model)
            self._wanted = None
            self._error = None
            self._failures = 0
            self._failing_since = None
        except Exception as exc:  # MLflow raises its own types (sqlite busy, ...) too
            error = exc if isinstance(exc, SpamopsError) else SpamopsError(
                f"registry check failed: {str(exc).splitlines()[0] if str(exc) else exc!r}")
            self._error = error
            self._failures += 1
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            if error is exc:
                raise
            raise error from exc
        finally:
            self._checked = time.monotonic()

    def _check_in_background(self) -> None:
        try:
            self._check()
        except SpamopsError as exc:  # keep serving the current model; try again later
            logger.warning("champion check failed, still serving %s: %s",
                           f"v{self._current[0]}" if self._current else "nothing", exc)
        finally:
            self._lock.release()
