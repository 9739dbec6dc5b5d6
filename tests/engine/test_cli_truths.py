"""Smaller truths of the CLI (issue 18, item 7): each figure printed is the one it claims."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import utcnow
from engine.config import load_settings
from engine.records import Approval, RetrainingEvent
from engine.rules import MIN_RECENT_FOR_DECISION, deciding_set
from engine.services import Services
from tests.cli_helpers import run_cli

T0 = datetime(2026, 11, 24, 6, 0)


def _set(name: str, n: int, difference: float) -> dict[str, object]:
    return {"name": name, "n": n, "accuracy_difference": difference}


@pytest.mark.parametrize(
    ("sets", "expected"),
    [([_set("test_split", 1032, -0.003), _set("recent_feedback", 31, 0.19)], "recent_feedback"),
     ([_set("test_split", 1032, -0.003), _set("recent_feedback", 29, 0.19)], "test_split"),
     ([_set("test_split", 1032, 0.02)], "test_split"),
     ([], None)],
)
def test_deciding_set_is_the_one_the_deployment_rule_judged(sets: list[dict[str, object]],
                                                            expected: str | None) -> None:
    judged = deciding_set(sets)
    assert (judged or {}).get("name") == expected
    assert MIN_RECENT_FOR_DECISION == 30  # the boundary the cases above straddle


def test_approvals_show_the_figure_the_challenger_was_queued_for(
        data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    services = Services(load_settings())
    services.setup_database()
    comparison = {"sets": [_set("test_split", 1032, -0.003),
                           _set("recent_feedback", 31, 0.19)]}
    services.store.save_approval(Approval("a1b2c3", T0, "r1", challenger_version=3,
                                          champion_version=1, status="pending",
                                          comparison=comparison))
    services.close()
    run = run_cli(capsys, "approvals")
    assert run.code == 0
    assert "+19.0 pts on recent_feedback (n=31)" in run.out
    assert "test split" not in run.out and "-0.3" not in run.out


def test_history_never_shows_vnone(data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    services = Services(load_settings())
    services.setup_database()
    services.store.save_retraining(RetrainingEvent(
        "e1", T0, "operator", "completed", champion_version=None, finished_at=T0,
        challenger_version=1, deployment="DEPLOY", reasoning="There was no champion."))
    services.store.save_retraining(RetrainingEvent(
        "e2", T0 + timedelta(hours=1), "operator", "failed", champion_version=1,
        finished_at=T0, deployment="KEEP", reasoning="Training failed (x); the champion stays."))
    services.close()
    run = run_cli(capsys, "history")
    assert "vNone" not in run.out
    assert "none -> v1" in run.out and "v1 -> none" in run.out


def test_predict_shows_the_prediction_id_and_names_it_like_the_api(
        trained_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = run_cli(capsys, "predict", "WINNER!! claim your prize now")
    label, _probability, prediction_id, *_ = text.out.split()
    assert label == "spam" and len(prediction_id) == 32
    record = run_cli(capsys, "predict", "see you at six", "--json").json()
    assert set(record) == {"prediction_id", "label", "spam_probability", "model_version", "text"}
    Services(load_settings()).close()  # ingests the spool
    assert run_cli(capsys, "feedback", prediction_id, "spam").code == 0


def test_simulated_labels_are_never_dated_in_the_future(
        trained_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = utcnow()
    run = run_cli(capsys, "simulate", "--messages", "60", "--label-rate", "1",
                  "--label-delay-hours", "10", "--json")
    after = utcnow()
    assert run.code == 0, run.err
    rows = run_cli(capsys, "sql", "SELECT max(f.ts) AS latest, min(p.ts) AS first, "
                   "max(p.ts) AS last FROM feedback f JOIN predictions p "
                   "ON p.id = f.prediction_id", "--json").json()["rows"][0]
    latest, first, last = (datetime.fromisoformat(rows[k]) for k in ("latest", "first", "last"))
    assert latest <= after + timedelta(seconds=1)
    assert before - timedelta(hours=10, seconds=1) <= first <= last <= after - timedelta(hours=10)


@pytest.mark.slow
def test_monitor_banner_names_the_scheduler_state_once(trained_home: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    monitor = subprocess.Popen([sys.executable, "-c", "from engine.cli import main; main()",
                                "monitor"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ, SPAMOPS_HOME=str(trained_home)))
    assert monitor.stdout is not None
    lines: list[str] = []
    for line in monitor.stdout:
        lines.append(line)
        if line.startswith("job retrain"):
            break
    monitor.send_signal(signal.SIGTERM)
    rest, _ = monitor.communicate(timeout=60)
    banner = next(line for line in lines if "Scheduler active" in line)
    assert "scheduler active" not in banner.lower().split("scheduler active", 1)[1]
    assert banner.split("] ", 1)[1].startswith("Scheduler active: ")
    assert monitor.returncode == 0 and "monitor stopped" in rest
