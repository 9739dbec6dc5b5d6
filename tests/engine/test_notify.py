"""Webhook notifications on real parts: the store's outbox written in the decision's own
transaction, the sender's retries, back-off, order and give-up against a real HTTP receiver on
loopback, the bodies and signatures, and the config and CLI around them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.config import load_settings
from engine.errors import ConfigError, StoreError
from engine.notify import EVENT_TYPES, NotifyEvent, NotifySettings, Webhook
from engine.notify import events as notify_events
from engine.notify.payloads import render, slack_body
from engine.notify.sender import OutboxSender, backoff_seconds, wall_now
from engine.records import Decision, DriftSnapshot, RetrainingEvent
from engine.store import Store
from tests.cli_helpers import run_cli
from tests.webhook_receiver import LoopbackReceiver

NOW = datetime(2026, 3, 1, 12, 0, 0)
SECRET = "s3cret-for-tests"


def _settings(*hooks: Webhook, **timing: float) -> NotifySettings:
    values = {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2,
              "poll_seconds": 0.05, "timeout_seconds": 5.0, **timing}
    return NotifySettings(webhooks=hooks, **values)


def _store(home: Path, notify: NotifySettings, url: str | None = None) -> Store:
    store = Store(home / "spamops.duckdb", home / "spool", clock=SimulatedClock(NOW),
                  notify=notify, url=url)
    store.migrate()
    return store


def _decision(drift: float = 0.4) -> tuple[Decision, DriftSnapshot]:
    snapshot = DriftSnapshot(id="s1", ts=NOW, model_version=1, n=400, window_start=NOW,
                             window_end=NOW, vocabulary_drift=0.3, tfidf_drift=0.2,
                             prediction_drift=None, prediction_p_value=None, drift_score=drift,
                             p_value=0.001, threshold=0.15, drift_detected=drift > 0.15,
                             new_patterns=(), recommendation="retrain")
    decision = Decision(id="d1", ts=NOW, trigger="schedule", decision="RETRAIN",
                        reasons=("Drift score 0.40 is above the threshold 0.15.",),
                        window_size=400, accuracy=0.97, accuracy_is_estimate=True,
                        accuracy_low=0.95, accuracy_high=0.99, n_labels=0, drift_score=drift,
                        thresholds={"drift": 0.15}, champion_version=1, snapshot_id="s1")
    return decision, snapshot


def _retraining(status: str, deployment: str | None = None) -> RetrainingEvent:
    return RetrainingEvent(id="r1", started_at=NOW, trigger="drift", status=status,
                           champion_version=1, finished_at=NOW + timedelta(minutes=1),
                           challenger_version=2, deployment=deployment, improvement=0.02,
                           reasoning="The challenger is 2.0 points better.", pid=7)


# Events and bodies ----------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "deployment", "expected"), [
    ("running", None, "retrain_started"), ("failed", "KEEP", "retrain_failed"),
    ("interrupted", None, "retrain_interrupted"), ("completed", "DEPLOY", "deployed"),
    ("completed", "KEEP", "kept"), ("completed", "PENDING_APPROVAL", "pending_approval"),
    ("completed", "APPROVED", None),
])
def test_a_retraining_state_maps_to_its_event(status: str, deployment: str | None,
                                              expected: str | None) -> None:
    found = notify_events.retraining(_retraining(status, deployment), approval_id="a1")
    assert [e.type for e in found] == ([expected] if expected else [])
    if found:
        assert found[0].reasons == ("The challenger is 2.0 points better.",)


def test_drift_event_only_when_the_snapshot_detected_drift() -> None:
    assert notify_events.drift_detected(*_decision(drift=0.05)) == []
    event = notify_events.drift_detected(*_decision())[0]
    assert event.type == "drift_detected" and event.details["drift_score"] == 0.4
    assert event.reasons == ("Drift score 0.40 is above the threshold 0.15.",)


def test_json_body_is_signed_over_its_exact_bytes_and_round_trips() -> None:
    event = notify_events.drift_detected(*_decision())[0]
    assert NotifyEvent.from_json(event.to_json()) == event
    body, headers = render(event, Webhook(url="http://h/x", secret=SECRET))
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Spamops-Signature"] == f"sha256={expected}"
    sent = json.loads(body)
    assert sent["event_id"] == event.event_id and sent["event"] == "drift_detected"
    assert sent["time"] == "2026-03-01T12:00:00Z"
    assert sent["models"] == {"champion": 1, "challenger": None}
    assert sent["reasons"] == list(event.reasons)
    unsigned = render(event, Webhook(url="http://h/x"))[1]
    assert "X-Spamops-Signature" not in unsigned


def test_slack_body_has_text_and_blocks_with_the_reasons_and_event_id() -> None:
    event = notify_events.retraining(_retraining("completed", "DEPLOY"))[0]
    body = slack_body(event)
    assert body["text"].startswith(":rocket: *spamops deployed*: Deployed v2 (was v1).")
    assert "> The challenger is 2.0 points better." in body["text"]
    assert event.event_id in body["blocks"][1]["elements"][0]["text"]


def test_backoff_doubles_and_is_capped() -> None:
    settings = NotifySettings(initial_backoff_seconds=5, max_backoff_seconds=300)
    waits = [backoff_seconds(n, settings, jitter=lambda: 1.0) for n in range(1, 10)]
    assert waits[:4] == [5, 10, 20, 40] and max(waits) == 300


# The outbox in the store ----------------------------------------------------------------------
def test_outbox_rows_commit_with_the_decision_one_per_subscribed_receiver(
        store_url: str | None, data_home: Path) -> None:
    notify = _settings(Webhook(url="http://127.0.0.1:9/a", name="all"),
                       Webhook(url="http://127.0.0.1:9/b", name="deploys",
                               events=("deployed",)))
    store = _store(data_home, notify, store_url)
    decision, snapshot = _decision()
    store.save_decision(decision, events=notify_events.drift_detected(decision, snapshot))
    rows = store.outbox_deliveries(("pending",))
    assert [(r.receiver, r.event_type) for r in rows] == [("all", "drift_detected")]
    store.save_retraining(_retraining("completed", "DEPLOY"),
                          events=notify_events.retraining(_retraining("completed", "DEPLOY")))
    assert sorted(r.receiver for r in store.outbox_deliveries(("pending",))) == [
        "all", "all", "deploys"]


def test_a_decision_that_fails_to_save_leaves_no_outbox_row(
        store_url: str | None, data_home: Path) -> None:
    store = _store(data_home, _settings(Webhook(url="http://127.0.0.1:9/a", name="a")),
                   store_url)
    decision, snapshot = _decision()
    events = notify_events.drift_detected(decision, snapshot)
    broken = Decision(**{**decision.__dict__, "reasons": None})  # NOT NULL column
    with pytest.raises(StoreError):
        store.save_decision(broken, events=events)
    assert store.outbox_deliveries(("pending",)) == []
    assert store.decisions() == []


def test_without_receivers_nothing_is_enqueued(store_url: str | None, data_home: Path) -> None:
    store = _store(data_home, NotifySettings(), store_url)
    decision, snapshot = _decision()
    store.save_decision(decision, events=notify_events.drift_detected(decision, snapshot))
    assert store.outbox_deliveries(("pending", "delivered", "failed")) == []


# The sender against a real receiver -----------------------------------------------------------
def test_a_failing_receiver_is_retried_with_backoff_in_order_until_delivered(
        store_url: str | None, data_home: Path) -> None:
    with LoopbackReceiver(fail_first=3, secret=SECRET) as receiver:
        notify = _settings(Webhook(url=receiver.url, name="ops", secret=SECRET))
        store = _store(data_home, notify, store_url)
        sent = []
        for status, deployment in (("running", None), ("completed", "DEPLOY")):
            event = notify_events.retraining(_retraining(status, deployment))
            store.save_retraining(_retraining(status, deployment), events=event)
            sent += event
        sender = OutboxSender(store, notify)
        first = sender.deliver_due()
        assert (first.delivered, first.retrying) == (0, 1)  # the receiver is skipped after one
        assert len(receiver.received) == 1
        health = {h.receiver: h for h in store.receiver_health()}["ops"]
        assert health.failing and health.retrying == 1 and health.last_error == "HTTP 503"

        def both_accepted() -> bool:
            sender.deliver_due()
            return len(receiver.accepted()) == 2

        assert receiver.wait_for(both_accepted, timeout=10)
        assert [r.json()["event"] for r in receiver.accepted()] == [
            "retrain_started", "deployed"]  # order kept through the failures
        assert len(receiver.received) == 5 and receiver.all_signed()
        assert list(receiver.unique_events()) == [e.event_id for e in sent]
        health = {h.receiver: h for h in store.receiver_health()}["ops"]
        assert not health.failing and health.delivered == 2 and health.pending == 0
        sender.stop()


def test_a_delivery_failing_past_give_up_is_marked_failed(
        store_url: str | None, data_home: Path) -> None:
    with LoopbackReceiver(fail_first=100) as receiver:
        notify = _settings(Webhook(url=receiver.url, name="down"), give_up_hours=1e-9)
        store = _store(data_home, notify, store_url)
        store.enqueue_events(notify_events.retraining(_retraining("running")))
        summary = OutboxSender(store, notify).deliver_due()
        assert summary.gave_up == 1
        [row] = store.outbox_deliveries(("failed",))
        assert row.attempts == 1 and row.last_error == "HTTP 503"
        assert {h.receiver: h.failed for h in store.receiver_health()} == {"down": 1}


def test_connection_refused_is_a_one_line_error_and_never_raises(
        store_url: str | None, data_home: Path) -> None:
    receiver = LoopbackReceiver()  # bound, then closed: the port refuses connections
    url = receiver.url
    receiver.server.server_close()
    notify = _settings(Webhook(url=url, name="gone"))
    store = _store(data_home, notify, store_url)
    store.enqueue_events(notify_events.retraining(_retraining("running")))
    assert OutboxSender(store, notify).deliver_due().retrying == 1
    [row] = store.outbox_deliveries(("pending",))
    assert row.last_error and "\n" not in row.last_error


# Config and CLI -------------------------------------------------------------------------------
def _write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spamops.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SPAMOPS_CONFIG", str(path))


@pytest.mark.parametrize(("text", "message"), [
    ('[[notify.webhooks]]\nurl = "ftp://x"\n', "notify.webhooks.0.url='ftp://x' (from file"),
    ('[[notify.webhooks]]\nurl = "http://x"\nevents = ["deploy"]\n', "unknown event 'deploy'"),
    ('[[notify.webhooks]]\nurl = "http://x"\nformat = "xml"\n', "notify.webhooks.0.format"),
    ('[[notify.webhooks]]\nurl = "http://x"\nname = "a"\nsecret = "hush-hush"\n'
     '[[notify.webhooks]]\nurl = "http://y"\nname = "a"\n', "two webhooks are named 'a'"),
])
def test_bad_webhook_config_is_one_line_naming_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str) -> None:
    _write_config(tmp_path, text, monkeypatch)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "hush-hush" not in str(caught.value)


def test_config_show_never_prints_a_webhook_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    _write_config(tmp_path, '[[notify.webhooks]]\nurl = "http://x/y"\nsecret = "hush-hush"\n',
                  monkeypatch)
    out = run_cli(capsys, "config", "show", "--json").json()
    [hooks] = [v["value"] for v in out["values"] if v["key"] == "notify.webhooks"]
    assert hooks[0]["signed"] is True and "hush-hush" not in json.dumps(out)
    assert tuple(hooks[0]["events"]) == EVENT_TYPES


def test_notify_test_and_status_through_the_cli(
        data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with LoopbackReceiver(secret=SECRET) as receiver:
        _write_config(tmp_path, f'[[notify.webhooks]]\nurl = "{receiver.url}"\nname = "ops"\n'
                      f'secret = "{SECRET}"\nformat = "slack"\n', monkeypatch)
        out = run_cli(capsys, "notify", "test", "--json").json()
        assert out["ok"] and out["results"][0]["receiver"] == "ops"
        [request] = receiver.received
        assert receiver.all_signed() and "*spamops test*" in request.json()["text"]
        status = run_cli(capsys, "notify", "status", "--json").json()
        assert status["receivers"][0]["receiver"] == "ops"
        assert status["receivers"][0]["failing"] is False and status["deliveries"] == []


def test_notify_without_receivers_says_how_to_configure(
        data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "notify", "send")
    assert result.code == 2
    assert "no webhook receivers configured" in result.err


def test_a_scheduler_taking_over_from_a_holder_that_went_away_is_an_event(
        data_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.scheduling import SchedulerLock
    from engine.services import Services

    monkeypatch.setenv("SPAMOPS_NOTIFY__WEBHOOKS",
                       json.dumps([{"url": "http://127.0.0.1:9/hook", "name": "ops"}]))
    services = Services(load_settings())
    services.setup_database()
    other = SchedulerLock.for_home(data_home)
    assert other.acquire("console")  # another holder (its own open file: flock conflicts)
    host = services.scheduler(kind="monitor")
    try:
        assert host.start() is False  # standing by
        assert services.store.outbox_deliveries() == []
        other.release()  # the holder goes away; the standby retries every 5 s
        deadline = time.monotonic() + 20
        while not host.status().active:
            assert time.monotonic() < deadline, "never took over"
            time.sleep(0.1)
    finally:
        host.shutdown()
    [row] = services.store.outbox_deliveries()
    event = NotifyEvent.from_json(row.payload)
    assert event.type == "scheduler_takeover" and "monitor" in event.summary
    assert services.store.last_audit("scheduler.takeover") is not None
    services.close()


def test_a_receiver_down_for_an_hour_gets_every_event_in_order_soon_after_it_is_back(
        store_url: str | None, data_home: Path) -> None:
    """An hour of outage on the sender's clock (moved by hand; the HTTP is real): the
    back-off grows to its cap, so the outage costs a handful of requests, and once the
    receiver is back every event arrives, in order, within one capped back-off."""
    with LoopbackReceiver(secret=SECRET) as receiver:
        receiver.down = True
        notify = NotifySettings(webhooks=(Webhook(url=receiver.url, name="ops",
                                                  secret=SECRET),))  # default timing
        store = _store(data_home, notify, store_url)
        clock = [wall_now()]  # the store dates rows by the wall clock; the sender runs ahead
        sender = OutboxSender(store, notify, now=lambda: clock[0])
        written = []
        for minute in range(60):  # a cycle's worth of events during the outage
            if minute % 10 == 0:
                events = notify_events.retraining(_retraining("running"))
                store.enqueue_events(events)
                written += events
            sender.deliver_due()
            clock[0] += timedelta(minutes=1)
        during = len(receiver.received)
        assert 5 <= during <= 20  # 5 s doubling to 300 s: not one request per event a minute
        receiver.down = False
        back = clock[0]
        while len(receiver.unique_events()) < len(written):
            sender.deliver_due()
            clock[0] += timedelta(seconds=30)
            assert clock[0] - back <= timedelta(seconds=360 + 30), "not delivered in time"
        assert list(receiver.unique_events()) == [e.event_id for e in written]
        assert receiver.all_signed()
        sender.stop()
