"""Drift that settles once handled: the accepted baseline of each champion (issue 13, item 3).

A cycle started on a drifted window (by confirmed drift, or by an accuracy breach while the
window drifted) ends in one of two ways that mean "this traffic is handled": the
challenger is deployed (it learned the traffic), or it is kept because the champion already
does as well on the recent labelled traffic. Either way the window that triggered the cycle is
accepted into the baseline of the champion that now serves, with an audit record, and later
drift is measured against the reference plus the accepted windows
(``engine.drift.DriftDetector.with_baseline``). Traffic like what was accepted then stops
asking for retrains, while a new kind of message still alerts.

Owns the acceptance rule (``acceptance``, pure) and the accept / show / reset operations on the
store and the audit trail. It trains nothing and scores nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from engine.clock import Clock
from engine.records import BaselineWindow

if TYPE_CHECKING:
    from engine.comparison import Comparison
    from engine.store import Store

RECENT_SET = "recent_feedback"
"""The comparison set of held-out recent labels (``Monitor._compare``)."""
MIN_RECENT = 30
"""Fewest recent labels for "the champion already does as well" to be judged."""


@dataclass(frozen=True)
class Acceptance:
    """Whether a finished cycle's window joins the baseline, and why (one sentence)."""

    accepted: bool
    champion_version: int | None
    """The champion whose baseline it joins (the deployed challenger after DEPLOY)."""
    reason: str


def acceptance(decision: str, *, champion_version: int | None,
               challenger_version: int | None, comparison: Comparison | None,
               min_improvement: float, accuracy_floor: float) -> Acceptance:
    """Decide whether a drift-triggered cycle that ended with ``decision`` accepts its window.

    DEPLOY accepts into the new champion's baseline. KEEP accepts into the champion's when the
    held-out recent labels (at least ``MIN_RECENT``) show no gain above ``min_improvement``
    and the champion meets ``accuracy_floor`` on them. Anything else (pending approval, a
    failed training, a gain the gate did not accept) leaves the baseline as it is: the drift
    is not handled, so it keeps alerting.
    """
    if decision == "DEPLOY" and challenger_version is not None:
        return Acceptance(True, challenger_version,
                          f"v{challenger_version} was deployed for this traffic, so the window "
                          "joins its drift baseline.")
    if decision != "KEEP" or champion_version is None:
        return Acceptance(False, None, f"The cycle ended with {decision}; the baseline is "
                                       "unchanged.")
    recent = comparison.get(RECENT_SET) if comparison is not None else None
    if recent is None or recent.n < MIN_RECENT:
        n = 0 if recent is None else recent.n
        return Acceptance(False, None, f"Only {n} held-out recent labels (fewer than "
                                       f"{MIN_RECENT}), so whether v{champion_version} handles "
                                       "this traffic is unknown; the baseline is unchanged.")
    champion_accuracy = recent.champion.metrics.accuracy
    gain = recent.accuracy_difference
    if gain > min_improvement or champion_accuracy < accuracy_floor:
        return Acceptance(False, None, (
            f"On {recent.n} recent labels v{champion_version} scores {champion_accuracy:.1%} "
            f"and the challenger {gain * 100:+.1f} points, so the champion does not already "
            "handle this traffic; the baseline is unchanged."))
    return Acceptance(True, champion_version, (
        f"v{champion_version} already does as well on {recent.n} recent labels "
        f"({champion_accuracy:.1%}, challenger {gain * 100:+.1f} points, at or above the "
        f"{accuracy_floor:.1%} floor), so the window joins its drift baseline."))


class Baseline:
    """Accept, show and reset the accepted windows of the store's champions."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def accept(self, acceptance_: Acceptance, *, window_start: datetime | None,
               window_end: datetime, n: int, outcome: str, actor: str,
               snapshot_id: str | None = None,
               retraining_id: str | None = None) -> BaselineWindow | None:
        """Record an accepted window (and its audit record); None when not accepted."""
        if not acceptance_.accepted or acceptance_.champion_version is None:
            return None
        window = BaselineWindow(
            id=uuid.uuid4().hex[:12], champion_version=acceptance_.champion_version,
            window_start=window_start, window_end=window_end, n=n,
            accepted_at=self.clock.now(), outcome=outcome, reason=acceptance_.reason,
            snapshot_id=snapshot_id, retraining_id=retraining_id)
        self.store.save_baseline_window(window)
        self.store.append_audit(actor, "baseline.accepted", window.id, {
            "champion_version": window.champion_version, "n": n, "outcome": outcome,
            "window_start": str(window_start), "window_end": str(window_end),
            "snapshot_id": snapshot_id, "retraining_id": retraining_id}, acceptance_.reason)
        return window

    def windows(self, champion_version: int | None, *,
                include_reset: bool = False) -> list[BaselineWindow]:
        """The accepted windows of ``champion_version`` (all champions when None)."""
        return self.store.baseline_windows(champion_version, include_reset=include_reset)

    def reset(self, champion_version: int, *, actor: str) -> list[BaselineWindow]:
        """Drop every accepted window of ``champion_version`` (audited); returns them."""
        dropped = self.store.reset_baseline(champion_version, actor=actor)
        self.store.append_audit(actor, "baseline.reset", f"v{champion_version}", {
            "champion_version": champion_version, "windows": [w.id for w in dropped],
            "messages": sum(w.n for w in dropped)},
            f"Drift baseline of v{champion_version} reset to its training reference "
            f"({len(dropped)} accepted windows dropped).")
        return dropped
