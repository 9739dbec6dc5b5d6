"""``ConsoleScreen``: what every view shares — the view bar on top, the footer below, and
subscriptions to the app's signals.

Screens are views: they render what the app's workers read and never call the engine
themselves, so no screen can block the event loop. Each subclass composes its body in
``compose_body`` and subscribes to the signals it needs in ``attach``; the app's cached state
is rendered first, so a view opened late is complete at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from tui.widgets.view_bar import ViewBar

if TYPE_CHECKING:
    from engine.records import Approval
    from tui.app import SpamopsConsole


class ConsoleScreen(Screen[None]):
    """A view of the console."""

    VIEW: ClassVar[str] = ""
    """The mode name (``overview``, ``history``, ``approvals``, ``log``)."""

    @property
    def console(self) -> SpamopsConsole:
        """The app, typed (the screens never import it at run time: no cycle)."""
        return cast("SpamopsConsole", self.app)

    def compose(self) -> ComposeResult:
        yield ViewBar(self.VIEW)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> Iterable[Widget]:
        """The widgets between the view bar and the footer."""
        return ()

    def on_mount(self) -> None:
        console = self.console
        bar = self.query_one(ViewBar)
        bar.set_state(pending=len(console.pending), work=console.work_text,
                      failing=console.failing_receivers, store=console.store_problem)
        console.approvals_changed.subscribe(self, self._bar_pending)
        console.work_changed.subscribe(self, lambda work: bar.set_state(work=work))
        console.receivers_changed.subscribe(
            self, lambda failing: bar.set_state(failing=failing))
        console.store_changed.subscribe(self, lambda problem: bar.set_state(store=problem))
        self.attach()

    def _bar_pending(self, approvals: list[Approval]) -> None:
        self.query_one(ViewBar).set_state(pending=len(approvals))

    def attach(self) -> None:
        """Render the app's cached state and subscribe to its signals."""
