"""Building consoles the way ``spamops console`` does, plus message recording."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from textual.message import Message
from textual.notifications import Notification, Notify

from engine.clock import SimulatedClock
from engine.config import load_settings
from engine.services import Services
from tui.app import SpamopsConsole


def make_console(*, now: datetime | None = None, poll_seconds: float = 0.2,
                 run_scheduler: bool = False) -> tuple[SpamopsConsole, Services]:
    """A console on the data home in ``SPAMOPS_HOME`` (a simulated clock if ``now``)."""
    clock = SimulatedClock(now) if now is not None else None
    services = Services(load_settings(), clock=clock)
    return (SpamopsConsole(services, run_scheduler=run_scheduler, poll_seconds=poll_seconds),
            services)


@dataclass
class Recorder:
    """``run_test(message_hook=...)``: every message the app's nodes receive, in order."""

    messages: list[Message] = field(default_factory=list)

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Message]:
        """The recorded messages of one type."""
        return [m for m in self.messages if isinstance(m, kind)]

    def notifications(self) -> list[Notification]:
        """What the app told the operator (toasts), in order."""
        return [m.notification for m in self.messages if isinstance(m, Notify)]
