"""The champion card: version, age, test metrics, live accuracy (measured or estimated).

Shows what ``Services.overview()`` returned and nothing else; when there is no champion it
says what to do next instead. Must not call the engine.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from tui.formatting import DASH, ago, num, pct

if TYPE_CHECKING:
    from engine.services import Overview

NO_CHAMPION = ("No champion model yet.\n"
               "Train one:  spamops train\n"
               "or fill a demo home:  spamops demo")
"""What an empty data home shows (the console never shows a traceback for it)."""


class ChampionPanel(Static):
    """The champion model as the overview shows it."""

    def show(self, overview: Overview) -> None:
        """Render the champion of ``overview`` (or the first-steps hint)."""
        card = overview.champion
        self.set_class(card is None, "-empty")
        if card is None:
            self.border_title = "Champion"
            self.update(Text(NO_CHAMPION))
            return
        self.border_title = f"Champion v{card.version}"
        now: datetime = overview.now
        if card.live_accuracy is None:
            live = Text("no check yet", style="dim")
        elif card.live_accuracy_is_estimate and card.live_accuracy_unreliable:
            live = Text.assemble(("unknown", "bold"), " under drift (estimate ",
                                 pct(card.live_accuracy), " unreliable)")
        else:
            kind = "estimated" if card.live_accuracy_is_estimate else "measured"
            live = Text.assemble((pct(card.live_accuracy), "bold"),
                                 f" {kind}, {card.live_labels} labels")
        interval = (f"95% CI {pct(card.live_accuracy_low)}–{pct(card.live_accuracy_high)}"
                    if card.live_accuracy_low is not None else "")
        previous = (f"v{card.previous_version} acc {pct(card.previous_accuracy)}"
                    if card.previous_version is not None else DASH)
        self.update(Group(
            Text(f"trained {card.created_at:%Y-%m-%d %H:%M} ({ago(card.created_at, now)})"),
            Text.assemble(("test ", "dim"), f"acc {pct(card.accuracy)}  F1 {num(card.f1, 3)}"),
            Text.assemble(("     ", "dim"),
                          f"prec {pct(card.precision)}  rec {pct(card.recall)}"),
            Text.assemble(("live ", "dim"), live),
            Text.assemble(("     ", "dim"), interval),
            Text.assemble(("prev ", "dim"), previous),
        ))
