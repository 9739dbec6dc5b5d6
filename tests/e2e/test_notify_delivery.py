"""Webhook delivery end to end (issue 17): a scripted monitoring cycle against a real HTTP
receiver on loopback that fails its first three deliveries, and a process killed with SIGKILL
between its decision and the delivery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from engine.clock import SystemClock
from engine.config import load_settings
from engine.notify import NotifyEvent
from engine.notify.events import rolled_back
from engine.rules import DEPLOY, PENDING_APPROVAL
from engine.services import Services
from engine.store import Store
from tests.webhook_receiver import LoopbackReceiver

SECRET = "receiver-shared-secret"

pytestmark = pytest.mark.slow


def _configure(monkeypatch: pytest.MonkeyPatch, url: str, **timing: str) -> None:
    monkeypatch.setenv("SPAMOPS_NOTIFY__WEBHOOKS", json.dumps(
        [{"url": url, "name": "ops", "secret": SECRET}]))
    for key, value in {"INITIAL_BACKOFF_SECONDS": "0.1", "MAX_BACKOFF_SECONDS": "0.5",
                       "POLL_SECONDS": "0.2", **timing}.items():
        monkeypatch.setenv(f"SPAMOPS_NOTIFY__{key}", value)


def test_every_event_of_a_cycle_arrives_once_after_dedup_with_a_valid_signature(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackReceiver(fail_first=3, secret=SECRET) as receiver:
        _configure(monkeypatch, receiver.url)
        monkeypatch.setenv("SPAMOPS_THRESHOLDS__MAX_REGRESSION", "0.05")
        auto = Services(load_settings())
        assert auto.start_notifier()  # as serve, monitor and the console do
        # drift -> retrain -> deploy
        auto.simulate(messages=700, drift=0.4, label_rate=0.6, seed=3)
        check = auto.check_now(trigger="operator", actor="alice")
        assert check.retrain is not None and check.retrain.deployment.decision == DEPLOY
        deployed = check.retrain.event
        # rollback
        auto.rollback(actor="erin", reasoning="the new model flags invoices")
        # retrain -> pending approval -> approved, by another process's settings (manual)
        monkeypatch.setenv("SPAMOPS_MONITORING__APPROVAL_POLICY", "manual")
        manual = Services(load_settings())
        pending = manual.retrain(trigger="operator", actor="bob")
        assert pending.deployment.decision == PENDING_APPROVAL
        approval_id = pending.deployment.approval_id
        assert approval_id is not None
        manual.approve(approval_id, actor="carol")
        manual.close()

        rows = auto.store.outbox_deliveries(("pending", "delivered", "failed"))
        events = [NotifyEvent.from_json(r.payload) for r in rows]
        assert [e.type for e in events] == [
            "drift_detected", "retrain_started", "deployed", "rolled_back",
            "retrain_started", "pending_approval", "approved"]
        assert receiver.wait_for(lambda: len(receiver.unique_events()) == len(events),
                                 timeout=60), receiver.received
        auto.close()

        # The receiver refused the first three requests; the retries got every event.
        assert [r.answered for r in receiver.received[:3]] == [503, 503, 503]
        unique = receiver.unique_events()
        assert list(unique) == [e.event_id for e in events]  # each once, in decision order
        assert receiver.all_signed()
        by_type = {body["event"]: body for body in unique.values()}
        assert by_type["drift_detected"]["reasons"] == list(check.decision.reasons)
        assert by_type["drift_detected"]["models"]["champion"] == 1
        assert by_type["deployed"]["models"] == {"champion": 1,
                                                 "challenger": deployed.challenger_version}
        assert by_type["deployed"]["reasons"] == [deployed.reasoning]
        assert by_type["rolled_back"]["reasons"] == ["the new model flags invoices"]
        assert by_type["pending_approval"]["details"]["approval_id"] == approval_id
        assert by_type["approved"]["details"]["decided_by"] == "carol"
        assert all(r.headers["X-Spamops-Event-Id"] == r.json()["event_id"]
                   for r in receiver.received)
        reader = Services(load_settings(), read_only=True)
        receivers, waiting = reader.notify_status()
        assert waiting == [] and not receivers[0].failing and receivers[0].delivered == 7


def _spamops(home: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, SPAMOPS_HOME=str(home))
    return subprocess.Popen([sys.executable, "-c", "from engine.cli import main; main()",
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_an_event_of_a_process_killed_before_delivery_is_delivered_after_restart(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackReceiver(hang_first=True, secret=SECRET) as receiver:
        # The first request is held open: the deciding process is inside its delivery.
        _configure(monkeypatch, receiver.url, TIMEOUT_SECONDS="5")
        seed = Services(load_settings())
        seed.simulate(messages=400, drift=0.5, seed=6)
        seed.close()
        proc = _spamops(trained_home, "monitor", "--check-now", "--no-retrain", "--json")
        assert receiver.arrived.wait(120), proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)  # decided and committed; delivery not acknowledged
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL

        reader = Services(load_settings(), read_only=True)
        decision = reader.decisions(1)[0]
        [row] = reader.store.outbox_deliveries(("pending", "delivered"))
        assert row.status == "pending" and row.event_type == "drift_detected"
        assert NotifyEvent.from_json(row.payload).subject == decision.id
        receiver.release()

        # Restart: a new process delivers it once the dead sender's lease (5 + 5 s) runs out.
        deadline = time.monotonic() + 60
        while True:
            sender = _spamops(trained_home, "notify", "send", "--json")
            out, err = sender.communicate(timeout=60)
            assert sender.returncode == 0, err
            if json.loads(out)["delivered"] == 1:
                break
            assert time.monotonic() < deadline, "never delivered after the restart"
            time.sleep(1)
        [delivered] = reader.store.outbox_deliveries(("delivered",))
        assert delivered.event_id == row.event_id
        unique = receiver.unique_events()
        assert list(unique) == [row.event_id]
        assert unique[row.event_id]["subject"] == decision.id
        assert receiver.all_signed()


def test_a_running_api_server_delivers_events_another_process_decided(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.server.test_live_server import start_server

    with LoopbackReceiver(fail_first=1, secret=SECRET) as receiver:
        _configure(monkeypatch, receiver.url)
        server = start_server(trained_home)  # inherits the [notify] settings from the env
        try:
            settings = load_settings()
            # Another process decides; it only writes the outbox (no sender of its own).
            other = Store(settings.db_path, settings.spool_dir, clock=SystemClock(),
                          notify=settings.notify)
            [event] = rolled_back(datetime(2026, 3, 1, 12), 1, 2, "erin", "bad deploy")
            assert other.enqueue_events([event]) == 1
            other.close()
            assert receiver.wait_for(lambda: event.event_id in receiver.unique_events(),
                                     timeout=60), receiver.received
            assert [r.answered for r in receiver.received[:2]] == [503, 200]
            assert receiver.all_signed()
        finally:
            assert server.stop() in (0, 130)
