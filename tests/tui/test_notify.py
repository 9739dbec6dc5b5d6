"""The console delivers webhook events (it is a long-lived process) and shows a receiver that
keeps failing: in the view bar, and once as a notification (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Static

from engine.config import load_settings
from engine.notify.events import rolled_back
from engine.services import Services
from tests.tui.conftest import wait_for
from tests.tui.helpers import Recorder, make_console
from tests.webhook_receiver import LoopbackReceiver
from tui.messages import ReceiversChecked
from tui.widgets.view_bar import ViewBar


async def test_a_failing_receiver_shows_in_the_bar_and_once_as_a_notification(
        data_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackReceiver(fail_first=10_000) as receiver:
        monkeypatch.setenv("SPAMOPS_NOTIFY__WEBHOOKS",
                           json.dumps([{"url": receiver.url, "name": "ops-slack"}]))
        writer = Services(load_settings())
        writer.setup_database()
        writer.store.enqueue_events(rolled_back(writer.clock.now(), 1, 2, "erin", "bad"))
        writer.close()  # its pass at close fails once: the receiver answers 503
        app, services = make_console(poll_seconds=0.2)
        recorder = Recorder()
        async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
            await wait_for(pilot, lambda: app.failing_receivers == ("ops-slack",),
                           what="the failing receiver")
            await pilot.pause()
            bar = app.screen.query_one(ViewBar)
            assert "webhook failing: ops-slack" in str(Static.render(bar))
            await wait_for(pilot, lambda: len(recorder.of(ReceiversChecked)) >= 3,
                           what="more polls")
            toasts = [n for n in recorder.notifications()
                      if n.title == "webhook receiver failing"]
            assert len(toasts) == 1 and toasts[0].message.startswith("ops-slack: HTTP 503")
        services.close()  # as `spamops console` does on exit: stops the sender thread
        assert receiver.received and all(r.answered == 503 for r in receiver.received)
