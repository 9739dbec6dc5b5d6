"""The dashboard warns about failing webhook receivers (issue 17), read-only, on a real store
whose outbox holds a delivery a real (closed) loopback port refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.notify.events import rolled_back
from engine.services import Services
from tests.web_dashboard.conftest import run_app
from tests.webhook_receiver import LoopbackReceiver


def test_a_failing_receiver_is_a_warning_naming_it_and_its_error(
        data_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = LoopbackReceiver()
    url = receiver.url
    receiver.server.server_close()  # nothing listens: every delivery is refused
    monkeypatch.setenv("SPAMOPS_NOTIFY__WEBHOOKS", json.dumps([{"url": url, "name": "ops"}]))
    writer = Services(load_settings())
    writer.setup_database()
    writer.store.enqueue_events(rolled_back(writer.clock.now(), 1, 2, "erin", "bad deploy"))
    assert writer.deliver_notifications().retrying == 1
    writer.close()
    at = run_app()
    assert not at.exception
    [warning] = [w.value for w in at.warning]
    assert warning.startswith("Webhook receiver failing — ops: ")
    assert "(1 pending, 0 given up)" in warning


def test_no_warning_when_no_receiver_is_configured(data_home: Path) -> None:
    Services(load_settings()).setup_database()
    at = run_app()
    assert not at.exception and not at.warning
