"""Monitoring windows: every logged prediction lands in exactly one window, and a window is
used up only together with its decision (issue 14, items 8 and 11).

The late predictions come from a real worker process killed with SIGKILL before its spool
was ingested, as an API worker would be.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.errors import StoreBusy
from engine.monitoring import Monitor
from engine.services import Services

REPO = Path(__file__).resolve().parents[2]

WORKER = """
import sys
from engine.config import load_settings
from engine.services import Services
services = Services(load_settings())
texts = [f"late message number {i} from a worker that will be killed" for i in range(250)]
services.predict(texts, source="api")
print("logged", flush=True)
sys.stdin.read()
"""


def windows(services: Services) -> list[tuple[int, int]]:
    return sorted((s.ingest_seq_from, s.ingest_seq_to)  # type: ignore[misc]
                  for s in services.drift_history(100))


@pytest.mark.slow
def test_predictions_ingested_after_a_check_from_a_killed_worker_land_in_the_next_window(
        trained_home: Path) -> None:
    env = dict(os.environ, SPAMOPS_HOME=str(trained_home), MLFLOW_DISABLE_TELEMETRY="true",
               SPAMOPS_SERVER__LOG_FLUSH_SECONDS="3600", PYTHONPATH=str(REPO))
    worker = subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None and worker.stdout.readline().strip() == "logged"
    # The worker lives: its 250 answered predictions wait in its (locked) spool segment.
    services = Services(load_settings())
    services.simulate(messages=300, seed=21)
    first = services.check_now(trigger="operator", retrain=False)
    assert first.decision.window_size == 300
    worker.send_signal(signal.SIGKILL)  # ...and then it dies before ingesting them
    worker.wait()
    services.store.recover_spool()  # what any writer's flush thread does within 30 s
    assert services.store.count_predictions() == 550

    second = services.check_now(trigger="operator", retrain=False)

    assert second.decision.window_size == 250  # older timestamps, still in a window
    assert second.snapshot is not None
    ranges = windows(services)
    assert ranges[0][0] == 1 and ranges[-1][1] == 550
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start == end + 1  # contiguous, no overlap: each prediction in one window
    services.close()


def test_a_failure_between_snapshot_and_decision_does_not_use_up_the_window(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database is busy when the check reads the last retrain, after drift was scored
    and its snapshot built, before the decision."""
    services = Services(load_settings())
    services.simulate(messages=300, seed=22)

    def busy(*args: object, **kwargs: object) -> None:
        raise StoreBusy("the database stayed locked by another process (held by PID 1)")

    with monkeypatch.context() as patch:
        patch.setattr(Monitor, "_hours_since_retrain", busy)
        with pytest.raises(StoreBusy):
            services.check_now(trigger="operator", retrain=False)
    assert services.drift_history(10) == []
    assert services.decisions(10) == []

    again = services.check_now(trigger="operator", retrain=False)

    assert again.decision.window_size == 300
    snapshots = services.drift_history(10)
    assert [s.id for s in snapshots] == [again.decision.snapshot_id]
    services.close()
