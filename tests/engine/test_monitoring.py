"""The monitoring cycle on real components: windows, decisions, retraining, deployment,
approvals, rollback and the records each leaves behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.errors import ConflictError, NotFound
from engine.monitoring import estimate_accuracy, measured_accuracy
from engine.rules import DEPLOY, INSUFFICIENT_DATA, KEEP, NO_ACTION, PENDING_APPROVAL, RETRAIN
from engine.services import Services
from tests.cli_helpers import run_cli


def services_for(**env: str) -> Services:
    return Services(load_settings())


@pytest.fixture
def services(trained_home: Path) -> Services:
    sut = Services(load_settings())
    yield sut
    sut.close()


def test_too_small_a_window_is_recorded_as_insufficient_data(services: Services) -> None:
    services.simulate(messages=50, seed=1)
    result = services.check_now(trigger="operator")
    assert result.decision.decision == INSUFFICIENT_DATA
    assert result.decision.outcome == "no action"
    assert "below the minimum of 200" in result.decision.reasons[0]
    assert result.snapshot is None
    assert services.decisions(1)[0].id == result.decision.id


def test_small_windows_accumulate_until_big_enough(services: Services) -> None:
    services.simulate(messages=150, seed=1)
    assert services.check_now().decision.window_size == 150
    services.simulate(messages=150, seed=2)
    second = services.check_now()
    assert second.decision.window_size == 300
    assert second.snapshot is not None
    services.simulate(messages=210, seed=3)
    assert services.check_now().decision.window_size == 210  # starts after the last window


def test_clean_traffic_is_no_action_with_measured_accuracy(services: Services) -> None:
    services.simulate(messages=400, label_rate=0.5, seed=4)
    result = services.check_now(trigger="schedule")
    assert result.decision.decision == NO_ACTION
    assert result.decision.trigger == "schedule"
    assert not result.accuracy.is_estimate
    assert result.accuracy.n_labels >= 50
    assert result.report is not None and not result.report.drift_detected
    assert result.retrain is None


def test_without_labels_accuracy_is_an_estimate_with_an_interval(services: Services) -> None:
    services.simulate(messages=300, seed=5)
    result = services.check_now()
    assert result.accuracy.is_estimate
    assert result.decision.accuracy_is_estimate
    low, high = result.decision.accuracy_low, result.decision.accuracy_high
    assert low is not None and high is not None
    assert low <= result.decision.accuracy <= high


def test_drift_without_retrain_flag_only_decides(services: Services) -> None:
    services.simulate(messages=400, drift=0.5, label_rate=0.6, seed=6)
    result = services.check_now(retrain=False)
    assert result.decision.decision == RETRAIN
    assert "drift" in result.decision.reasons[0].lower()
    assert result.retrain is None
    assert [p.term for p in result.report.new_patterns]


def test_drift_with_late_labels_retrains_compares_and_decides(services: Services,
                                                             capsys) -> None:
    champion = services.registry.require_champion()
    services.simulate(messages=700, drift=0.4, label_rate=0.6, seed=3)
    result = services.check_now(trigger="operator", actor="alice")
    assert result.decision.decision == RETRAIN
    assert result.retrain is not None
    event = result.retrain.event
    outcome = result.retrain.deployment
    assert event.status == "completed"
    assert event.challenger_version == champion + 1
    assert outcome.decision in (DEPLOY, KEEP)
    assert outcome.reasons and outcome.comparison is not None
    names = [s.name for s in outcome.comparison.sets]
    assert names == ["test_split", "recent_feedback"]
    expected = outcome.challenger_version if outcome.decision == DEPLOY else champion
    assert services.registry.require_champion() == expected
    # Visible through the CLI and SQL.
    history = run_cli(capsys, "history", "--json").json()
    assert history["decisions"][0]["decision"] == RETRAIN
    assert history["retraining"][0]["deployment"] == outcome.decision
    rows = run_cli(capsys, "sql", "SELECT trigger, status, deployment FROM v_retraining_history",
                   "--json").json()
    assert rows["rows"] and rows["rows"][0]["status"] == "completed"
    actions = [r.action for r in services.audit_records()]
    assert "monitor.decision" in actions and f"deployment.{outcome.decision.lower()}" in actions
    assert services.verify_audit().ok
    log = services.monitor_log.tail()
    assert any("Deployment decision:" in line for line in log)


def test_manual_policy_queues_then_approve_deploys(trained_home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_MONITORING__APPROVAL_POLICY", "manual")
    monkeypatch.setenv("SPAMOPS_THRESHOLDS__MAX_REGRESSION", "0.05")
    services = Services(load_settings())
    services.simulate(messages=700, drift=0.4, label_rate=0.6, seed=3)
    result = services.check_now()
    outcome = result.retrain.deployment
    assert outcome.decision == PENDING_APPROVAL
    assert services.registry.require_champion() == 1
    pending = services.approvals()
    assert [a.id for a in pending] == [outcome.approval_id]
    approved = services.approve(outcome.approval_id, actor="bob")
    assert approved.status == "approved" and approved.decided_by == "bob"
    assert services.registry.require_champion() == outcome.challenger_version
    assert services.retraining_history(1)[0].deployment == "APPROVED"
    with pytest.raises(ConflictError, match="already approved"):
        services.reject(outcome.approval_id, actor="carol")
    assert services.audit_records()[-1].actor == "bob"


def test_manual_policy_reject_keeps_the_champion(trained_home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_MONITORING__APPROVAL_POLICY", "manual")
    monkeypatch.setenv("SPAMOPS_THRESHOLDS__MAX_REGRESSION", "0.05")
    services = Services(load_settings())
    services.simulate(messages=700, drift=0.4, label_rate=0.6, seed=3)
    outcome = services.check_now().retrain.deployment
    rejected = services.reject(outcome.approval_id, actor="dana", reason="not on a Friday")
    assert rejected.status == "rejected" and rejected.reason == "not on a Friday"
    assert services.registry.require_champion() == 1
    assert services.approvals() == []
    assert services.retraining_history(1)[0].deployment == "REJECTED"


def test_unknown_approval_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound):
        services.approve("nope", actor="x")


def test_deploy_then_rollback_restores_the_previous_champion(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_THRESHOLDS__MAX_REGRESSION", "0.05")
    services = Services(load_settings())
    services.simulate(messages=700, drift=0.4, label_rate=0.6, seed=3)
    outcome = services.check_now().retrain.deployment
    assert outcome.decision == DEPLOY
    assert services.registry.require_champion() == outcome.challenger_version
    move = services.rollback(actor="erin")
    assert move.champion == 1
    assert services.predict(["hello"])[0].model_version == 1
    assert services.audit_records()[-1].action == "rollback"


def test_scheduled_retrain_without_new_labels_keeps_the_champion(services: Services) -> None:
    result = services.retrain(trigger="schedule")
    assert result.deployment.decision == KEEP
    assert result.deployment.improvement == pytest.approx(0.0, abs=0.01)
    assert services.registry.require_champion() == 1
    assert "not more than the required 1.0" in result.deployment.reasons[0]


def test_training_failure_is_recorded_and_keeps_the_champion(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = Services(load_settings())
    monkeypatch.setattr(services.monitor, "_training_data",
                        lambda trigger: (_ for _ in ()).throw(ValueError("disk full")))
    with pytest.raises(ValueError):
        services.retrain()
    event = services.retraining_history(1)[0]
    assert event.status == "failed" and "disk full" in event.reasoning
    assert services.registry.require_champion() == 1


def test_accuracy_helpers() -> None:
    import numpy as np

    sure = estimate_accuracy(np.array([0.0, 1.0, 0.99, 0.01]))
    assert sure.value == pytest.approx(0.995)
    unsure = estimate_accuracy(np.array([0.5, 0.5]))
    assert unsure.value == 0.5 and unsure.low < 0.5 < unsure.high
    measured = measured_accuracy(np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1]))
    assert measured.value == 0.75 and not measured.is_estimate and measured.n_labels == 4


def _retrain_subprocess(home: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, SPAMOPS_HOME=str(home))
    return subprocess.Popen([sys.executable, "-c", "from engine.cli import main; main()",
                             "retrain", "--yes", "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_lock(services: Services, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not services.retrain_running():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "retrain never started"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_during_retrain_leaves_the_champion_and_marks_it_interrupted(
        trained_home: Path) -> None:
    watcher = Services(load_settings())
    proc = _retrain_subprocess(trained_home)
    _wait_for_lock(watcher, proc)
    deadline = time.monotonic() + 60
    while not watcher.store.running_retrainings():  # the event is recorded, training started
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    restarted = Services(load_settings())
    assert restarted.registry.require_champion() == 1
    assert restarted.monitor is not None  # a writer start-up recovers interrupted retrains
    event = restarted.retraining_history(1)[0]
    assert event.status == "interrupted"
    assert f"process {proc.pid}" in event.reasoning
    assert restarted.audit_records()[-1].action == "retrain.interrupted"


@pytest.mark.slow
def test_a_second_retrain_during_a_running_one_is_refused(trained_home: Path) -> None:
    services = Services(load_settings())
    proc = _retrain_subprocess(trained_home)
    _wait_for_lock(services, proc)
    # The lock is also held for a moment by the subprocess's start-up recovery: wait until
    # its retrain has really started (its event is recorded) before competing for it.
    deadline = time.monotonic() + 60
    while not services.store.running_retrainings():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    with pytest.raises(ConflictError, match="already running"):
        services.retrain(trigger="operator")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["retraining"]["status"] == "completed"
    assert len(services.retraining_history(10)) == 1


def test_config_changes_are_audited_when_a_writer_starts(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Services(load_settings())
    first.decisions(1)  # opening the store records the effective configuration once
    first.close()
    again = Services(load_settings())
    again.decisions(1)
    again.close()
    records = [r for r in again.audit_records() if r.action == "config.effective"]
    assert len(records) <= 2  # the copied template may record the new home once
    monkeypatch.setenv("SPAMOPS_THRESHOLDS__DRIFT", "0.2")
    changed = Services(load_settings())
    changed.decisions(1)
    last = changed.audit_records()[-1]
    assert last.action == "config.effective"
    assert last.details["changed"]["thresholds.drift"] == {
        "old": 0.15, "new": 0.2, "source": "env SPAMOPS_THRESHOLDS__DRIFT"}
    assert "thresholds.drift 0.15 -> 0.2" in last.reasoning
    assert "api_key" not in last.details["values"]
    assert changed.verify_audit().ok
