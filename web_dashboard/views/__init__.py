"""The dashboard's five views, one module each, and what they share.

Each view module has one ``render(ctx)`` that reads through ``web_dashboard.data`` (cached),
draws with ``web_dashboard.charts`` and shows a ``SpamopsError`` as one line, never a
traceback. Views must not talk to the engine except through ``data`` and the ``Services`` in
the context, and must not import another UI.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.services import Overview, Services
from web_dashboard.data import Window

NEXT_STEPS = ("Fill it with `spamops demo` (a simulated week of traffic, checks and "
              "retraining), or start from scratch: `spamops train`, then "
              "`spamops simulate --label-rate 0.5` and `spamops monitor --check-now`.")
"""What to do on a home with nothing to show yet."""


@dataclass(frozen=True)
class ViewContext:
    """What every view gets: the read-only services, cache keys and the time window."""

    services: Services
    home: str
    """Cache key of the data home (its resolved path)."""
    epoch: int
    """Refresh period number: part of every cache key."""
    window: Window
    overview: Overview
