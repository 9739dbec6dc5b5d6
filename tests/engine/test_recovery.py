"""Recovery of work left ``running`` by dead processes (issue 14, item 7).

Recovery must never mark live work: it runs under the retrain lock and only touches records
whose process is gone. The processes here are real: a sleeping child stands for a live
retrain or job, an exited child for a killed one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.monitoring import Monitor
from engine.records import JobRun, RetrainingEvent
from engine.services import Services

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of a process that stays alive for the test."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def running_event(id: str, pid: int) -> RetrainingEvent:
    return RetrainingEvent(id=id, started_at=datetime(2026, 1, 1, 3), trigger="schedule",
                           status="running", champion_version=1, pid=pid, actor="scheduler")


def test_recovery_marks_only_retrains_whose_process_is_gone(
        trained_home: Path, live_pid: int, dead_pid: int) -> None:
    writer = Services(load_settings())
    writer.store.save_retraining(running_event("live", live_pid))
    writer.store.save_retraining(running_event("dead", dead_pid))
    writer.close()

    restarted = Services(load_settings())
    recovered = restarted.monitor.recover_interrupted()

    assert restarted.store.retraining("live").status == "running"
    assert restarted.store.retraining("dead").status == "interrupted"
    interrupted = [r.subject for r in restarted.audit_records()
                   if r.action == "retrain.interrupted"]
    assert interrupted == ["dead"]
    assert recovered == [] or [e.id for e in recovered] == ["dead"]  # first pass: at start-up


def test_job_runs_killed_mid_way_are_marked_failed_not_left_running(
        trained_home: Path, live_pid: int, dead_pid: int) -> None:
    host = socket.gethostname()
    writer = Services(load_settings())
    for id, pid in (("live", live_pid), ("dead", dead_pid)):
        writer.store.record_job_run(JobRun(
            id=id, job="monitor", scheduled_at=None, started_at=datetime(2026, 1, 1, 3),
            finished_at=None, outcome="running", detail="manual run", holder=f"{host}:{pid}"))
    writer.store.record_job_run(JobRun(
        id="elsewhere", job="monitor", scheduled_at=None, started_at=datetime(2026, 1, 1, 3),
        finished_at=None, outcome="running", detail="manual run",
        holder=f"another-host:{dead_pid}"))
    writer.close()

    restarted = Services(load_settings())
    assert restarted.monitor is not None  # a writer's start-up recovers
    runs = {run.id: run for run in restarted.job_runs(10)}

    assert runs["live"].outcome == "running"
    assert runs["elsewhere"].outcome == "running"  # another host's pid cannot be checked
    assert runs["dead"].outcome == "failed"
    assert runs["dead"].finished_at is not None
    assert f"interrupted: process {dead_pid}" in runs["dead"].detail
    assert restarted.store.running_job_runs()[0].id in {"live", "elsewhere"}


RETRAIN_SCRIPT = """
import json, sys, time
from pathlib import Path
from engine.config import load_settings
from engine.services import Services

services = Services(load_settings())
services.monitor
go = Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
result = services.retrain(trigger="operator")
print(json.dumps({"id": result.event.id, "status": result.event.status}))
services.close()
"""


@pytest.mark.slow
def test_a_retrain_starting_while_another_process_recovers_is_never_marked_interrupted(
        trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault is injected at the step the defect lives in: right after recovery looked
    at the retrain lock, a retrain starts in another process. Recovery must not mark it."""
    go = tmp_path / "go"
    env = dict(os.environ, SPAMOPS_HOME=str(trained_home), MLFLOW_DISABLE_TELEMETRY="true",
               PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", RETRAIN_SCRIPT, str(go)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    watcher = Services(load_settings(), read_only=True)
    real_retrain_running = Monitor.retrain_running

    def retrain_starts_right_after_the_look(self: Monitor) -> bool:
        running = real_retrain_running(self)
        go.touch()
        deadline = time.monotonic() + 60
        while not watcher.store.running_retrainings() and time.monotonic() < deadline:
            time.sleep(0.02)
        return running

    monkeypatch.setattr(Monitor, "retrain_running", retrain_starts_right_after_the_look)
    recovering = Services(load_settings())
    assert recovering.monitor is not None  # recovery runs here
    go.touch()  # if recovery never looked, the retrain starts now
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err

    retrain = json.loads(out.strip().splitlines()[-1])
    assert retrain["status"] == "completed"
    assert not [r for r in recovering.audit_records() if r.action == "retrain.interrupted"]
