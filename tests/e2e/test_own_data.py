"""Your own data, end to end, as a new user would run it, on the real Mishra & Soni file:
`data import` -> `train --dataset` -> `replay` of its messages spread over a week, in real
`spamops` processes; and Ctrl-C (SIGINT) in the middle of a replay keeps what was replayed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import copy_home

REAL_MISHRA = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
               / "sms_phishing_mishra_soni_2022.csv")
SPAMOPS = [sys.executable, "-c", "from engine.cli import main; main()"]


def spamops(*args: str, home: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPAMOPS_HOME": str(home),
           "SPAMOPS_MONITORING__INTERVAL_MINUTES": "360"}
    return subprocess.run([*SPAMOPS, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def week_of(source: Path, target: Path) -> Path:
    """The file's own rows, as they are, with a `timestamp` column spread over a week."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding_errors="replace")
    start = pd.Timestamp("2024-05-06T00:00:00Z")  # a Monday
    step = pd.Timedelta(days=7) / len(frame)
    frame.insert(0, "timestamp", [(start + step * i).isoformat() for i in range(len(frame))])
    frame.sample(frac=1, random_state=5).to_csv(target, index=False)
    return target


@pytest.mark.slow
@pytest.mark.timeout(1500)  # a training and two replays: minutes on a busy 2-core machine
def test_import_train_and_replay_the_real_file(data_home: Path, tmp_path: Path) -> None:
    if not REAL_MISHRA.exists():
        pytest.skip(f"{REAL_MISHRA} is absent (it is never committed): nothing to replay")
    imported = spamops("data", "import", str(REAL_MISHRA), "--name", "mishra", home=data_home)
    assert imported.returncode == 0, imported.stderr
    assert "imported dataset mishra: 5,831 messages" in imported.stdout
    assert "text column `TEXT`, label column `label`" in imported.stderr
    trained = spamops("train", "--dataset", "mishra", home=data_home)
    assert trained.returncode == 0, trained.stderr
    assert "trained on mishra:" in trained.stdout and "is the champion" in trained.stdout
    models = spamops("models", home=data_home)
    assert "mishra:" in models.stdout
    interrupted_home = tmp_path / "second"
    copy_home(data_home, interrupted_home)

    week = week_of(REAL_MISHRA, tmp_path / "week.csv")
    replayed = spamops("replay", str(week), "--quiet", home=data_home)
    assert replayed.returncode == 0, replayed.stderr
    print(replayed.stdout)  # the day table, for the log of the run
    lines = replayed.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["day", "traffic", "spam"]
    days = [line for line in lines[1:] if line[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri",
                                                       "Sat", "Sun")]
    assert [d[:10] for d in days] == ["Mon 06 May", "Tue 07 May", "Wed 08 May", "Thu 09 May",
                                      "Fri 10 May", "Sat 11 May", "Sun 12 May"]
    assert sum(int(d.split()[3]) for d in days) == 5971
    assert "replayed 5,971 of 5,971 messages (5,971 labels filed)" in lines[-1]
    checks = spamops("sql", "SELECT count(*) AS n, count(accuracy) AS measured FROM decisions",
                     "--json", home=data_home)
    decided = json.loads(checks.stdout)["rows"][0]
    assert 27 <= decided["n"] <= 29 and decided["measured"] > 0  # six-hourly, labels measured
    assert spamops("audit", "verify", home=data_home).returncode == 0

    # Ctrl-C in the middle of a replay: it stops after the current chunk, keeps what was
    # replayed, prints what it did and exits 130.
    env = {**os.environ, "SPAMOPS_HOME": str(interrupted_home),
           "SPAMOPS_MONITORING__INTERVAL_MINUTES": "60"}
    process = subprocess.Popen([*SPAMOPS, "replay", str(week)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    assert process.stderr is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "Monitoring check" in line or not line:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "stopped early: replayed " in out and "Traceback" not in err
    done = int(out.split("stopped early: replayed ")[1].split(" of")[0].replace(",", ""))
    assert 0 < done < 5971
    count = spamops("sql", "SELECT count(*) AS n FROM predictions", "--json",
                    home=interrupted_home)
    assert json.loads(count.stdout)["rows"] == [{"n": done}]
