"""The top bar: the four views (current one highlighted), pending approvals, an unreachable
store, running work and failing webhook receivers.

Replaces Textual's ``Header`` so that the one line it costs tells the operator where they are
and what is running (``retraining: comparing models…``). Must not call the engine.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

VIEWS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"), ("history", "History"), ("approvals", "Approvals"),
    ("log", "Log"),
)
"""Mode name and title of each view, in key order (1-4)."""


class ViewBar(Static):
    """``spamops  1 Overview  2 History  3 Approvals (1)  4 Log   ⟳ retraining…``."""

    def __init__(self, current: str) -> None:
        super().__init__(classes="view-bar")
        self.current = current
        self.pending = 0
        self.work = ""
        self.failing: tuple[str, ...] = ()
        self.store = ""

    def on_mount(self) -> None:
        self._render_bar()

    def set_state(self, *, pending: int | None = None, work: str | None = None,
                  failing: tuple[str, ...] | None = None, store: str | None = None) -> None:
        """Update the pending-approval count, the running-work line, the names of the
        failing webhook receivers and/or why the store cannot be read (``""``: it can)."""
        if pending is not None:
            self.pending = pending
        if work is not None:
            self.work = work
        if failing is not None:
            self.failing = failing
        if store is not None:
            self.store = store
        self._render_bar()

    def _render_bar(self) -> None:
        text = Text.assemble(("spamops ", "bold"))
        for index, (mode, title) in enumerate(VIEWS, start=1):
            label = f" {index} {title}"
            if mode == "approvals" and self.pending:
                label += f" ({self.pending})"
            label += " "
            text.append(label, style="reverse bold" if mode == self.current else "")
        if self.store:
            text.append("  ⚠ store unreachable", style="bold red")
        if self.work:
            text.append(f"  ⟳ {self.work}", style="bold yellow")
        if self.failing:
            text.append(f"  ✉ webhook failing: {', '.join(self.failing)}", style="bold red")
        self.update(text)
