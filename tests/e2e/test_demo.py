"""The demo on a temporary data home, with a fixed seed: the history it leaves behind.

The run checked is the session's ``readme_demo`` (the README's ``spamops demo --until
DEMO_UNTIL``, default seed 42, through the CLI), shared with the README test; this test reads
a private copy of its home."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.demo import drift_plan, has_history
from engine.services import Services
from tests.cli_helpers import run_cli
from tests.conftest import copy_home
from tests.readme_demo import ReadmeDemo


def test_a_freshly_set_up_home_has_no_history(data_home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "setup-database").code == 0  # what `make setup` does first
    assert not has_history(load_settings())


def test_drift_plan_starts_clean_then_grows() -> None:
    plan = drift_plan(7)
    assert plan[:3] == [0.0, 0.0, 0.0]
    assert plan[3:] == sorted(plan[3:]) and plan[-1] > 0.3


@pytest.mark.slow
def test_demo_leaves_a_consistent_history(data_home: Path, readme_demo: ReadmeDemo,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    copy_home(readme_demo.home, data_home)
    summary = readme_demo.summary
    lines = readme_demo.out.split("\n\n")[0].splitlines()  # what `say` echoed, before the table
    services = Services(load_settings(), read_only=True)
    decisions = services.decisions(500)
    snapshots = services.drift_history(500)
    events = services.retraining_history(100)
    # Clean days first: no text drift and no retrain (each window may raise a calibrated
    # spam-rate alert at the 5% false-alarm rate, which never retrains on its own); then drift
    # is detected and explained.
    first_day = summary.days[0]
    day_end = summary.started + timedelta(days=1)
    assert first_day.retrains == 0
    assert not [s for s in snapshots if s.ts < day_end and s.drift_detected
                and set(s.drift_components) - {"spam_rate"}]
    assert summary.drift_detections >= 1
    detected = [s for s in snapshots if s.drift_detected]
    assert detected and all(s.new_patterns for s in detected)
    assert any(d.decision == "RETRAIN" for d in decisions)
    completed = [e for e in events if e.status == "completed"]
    assert completed and all(e.comparison for e in completed)
    assert all(e.deployment in ("DEPLOY", "KEEP") and e.reasoning for e in completed)
    assert summary.versions == 1 + len(events)
    # Timestamps live in simulated time, ordered and inside the simulated week.
    assert all(summary.started <= d.ts <= summary.ended for d in decisions)
    # Measured accuracy from late labels, and estimates, both appear.
    assert any(not d.accuracy_is_estimate for d in decisions if d.accuracy is not None)
    assert services.verify_audit().ok
    assert any("Deployment decision:" in line for line in lines)
    assert any("New patterns detected:" in line for line in lines)
    assert has_history(load_settings())
    # A second run without --fresh leaves the history alone.
    again = run_cli(capsys, "demo")
    assert again.code == 0 and "--fresh" in again.out
