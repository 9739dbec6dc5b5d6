"""The console's entries in the command palette (ctrl+p), built from the app's bindings.

Every binding with a description becomes a command that runs the same action as its key, with
the binding's tooltip as help, so the palette, the footer and the help screen always agree.
Must not call the engine.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from textual.binding import Binding

    from tui.app import SpamopsConsole


class ConsoleCommands(Provider):
    """Check now, retrain, approve, reject, roll back, switch views, help."""

    def _commands(self) -> list[Binding]:
        console = cast("SpamopsConsole", self.app)
        return [b for b in console.key_bindings() if b.description and b.action != "quit"]

    async def discover(self) -> Hits:
        for binding in self._commands():
            yield DiscoveryHit(binding.description, partial(self.app.run_action,
                                                            binding.action),
                               help=binding.tooltip)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for binding in self._commands():
            score = matcher.match(binding.description)
            if score > 0:
                yield Hit(score, matcher.highlight(binding.description),
                          partial(self.app.run_action, binding.action), help=binding.tooltip)
