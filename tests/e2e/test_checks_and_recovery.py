"""Checks and recovery across real OS processes on one data home (issue 14, items 6 and 7).

Each check runs in its own ``python`` process through ``Services``, the same path as
``spamops monitor --check-now``, the API and the console. The processes import and open
everything first, then wait on a start file so that their checks really overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.services import Services

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

CHECK_SCRIPT = """
import json, sys, time
from pathlib import Path
from engine.config import load_settings
from engine.errors import SpamopsError
from engine.services import Services

services = Services(load_settings())
services.monitor
services.drift_detector()
go = Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
try:
    result = services.check_now(trigger="operator", retrain=False)
    print(json.dumps({"window": result.decision.window_size,
                      "snapshot": result.snapshot.id if result.snapshot else None}))
except SpamopsError as exc:
    print(json.dumps({"refused": str(exc)}))
services.close()
"""


def environment(home: Path) -> dict[str, str]:
    env = dict(os.environ, SPAMOPS_HOME=str(home), MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_two_checks_at_once_in_two_processes_evaluate_a_window_once(
        trained_home: Path, tmp_path: Path) -> None:
    services = Services(load_settings())
    services.simulate(messages=400, seed=11)
    services.drift_detector()  # built once here, so both checkers start equally warm
    services.close()
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CHECK_SCRIPT, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=environment(trained_home)) for _ in range(3)]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()  # type: ignore[union-attr]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    checked = [r for r in results if "window" in r]
    assert sum(r["window"] for r in checked) == 400, results  # every prediction once
    assert sum(1 for r in checked if r["snapshot"]) == 1, results
    for refused in (r for r in results if "refused" in r):
        assert "a monitoring check is already running" in refused["refused"]
    reader = Services(load_settings(), read_only=True)
    assert len(reader.drift_history(10)) == 1
