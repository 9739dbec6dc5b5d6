"""Acknowledged predictions survive what the soak (issue 14) does around a live spool.

One 600 s soak on branch ``rss`` lost one whole closed segment of the live API (39
acknowledged predictions; ``spool_segments`` holds every other number of that writer, the
file was gone, nothing was refused). Its moment matched a scheduled check's start, whose
isolated child opens the store afresh and so runs spool recovery while the API writes. This
test runs that mix with real processes, shorter: a writer logging without pause, isolated-check
children (migrate + recovery, a session with writes, suspended once) one after another, an
analyst's ``spamops sql`` loop, and a SIGKILL of the writer followed at once by a new one
(as the soak restarts the API). Every acknowledged id must be stored exactly once, and every
writer's segments must all be in the ledger, numbered without a gap.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from engine.clock import SystemClock
from engine.store import Store
from tests.e2e.test_store_processes import WORKER, environment, rows, spamops, worker

pytestmark = pytest.mark.slow

PHASE = 10.0
"""Seconds each writer runs (the first is then SIGKILLed, the second too at the end)."""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    done = spamops(home, "setup-database")
    assert done.returncode == 0, done.stderr
    return home


def _collect(proc: subprocess.Popen[str], into: list[str]) -> threading.Thread:
    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            into.append(line.strip())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_checks_and_a_writer_restart_lose_no_acknowledged_prediction(home: Path) -> None:
    stop = threading.Event()
    failures: list[str] = []
    counts = {"checks": 0, "queries": 0}

    def checks() -> None:
        hold = 0.2
        while not stop.is_set():
            done = subprocess.run([sys.executable, str(WORKER), "check", str(home), str(hold)],
                                  capture_output=True, text=True, env=environment(home),
                                  timeout=120, check=False)
            counts["checks"] += 1
            hold = 0.2 if hold > 1.0 else hold + 0.3
            if done.returncode != 0:
                failures.append(f"check: {done.stderr.strip()[-400:]}")

    def analyst() -> None:
        while not stop.is_set():
            done = spamops(home, "sql", "SELECT count(*) AS n FROM predictions", "--json")
            counts["queries"] += 1
            if done.returncode != 0:
                failures.append(f"sql: {done.stderr.strip()[-400:]}")

    acknowledged: list[str] = []
    first = worker(home, "forever", "a")
    readers = [_collect(first, acknowledged)]
    helpers = [threading.Thread(target=checks), threading.Thread(target=analyst)]
    for thread in helpers:
        thread.start()
    try:
        time.sleep(PHASE)
        os.kill(first.pid, signal.SIGKILL)  # the soak's SIGKILL of the API...
        first.wait(30)
        second = worker(home, "forever", "b")  # ...restarted at once
        readers.append(_collect(second, acknowledged))
        time.sleep(PHASE)
        os.kill(second.pid, signal.SIGKILL)
        second.wait(30)
    finally:
        stop.set()
        for thread in helpers:
            thread.join(timeout=180)
        for proc in (first, *(p for p in [locals().get("second")] if p is not None)):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for thread in readers:
        thread.join(timeout=30)

    restarted = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock())
    restarted.migrate()  # recovers what the second writer's kill left
    restarted.close()

    assert failures == []
    assert counts["checks"] >= 3, counts
    acked = [a for a in acknowledged if a]
    assert len(acked) > 2000
    stored = [str(r[0]) for r in rows(home, "SELECT id FROM predictions")]
    assert len(stored) == len(set(stored)), "a prediction was ingested twice"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged predictions missing, e.g. " \
                        f"{sorted(missing)[:5]}"
    numbers: dict[str, set[int]] = defaultdict(set)
    for (name,) in rows(home, "SELECT name FROM spool_segments"):
        token, seq = str(name).removesuffix(".jsonl").rsplit("-", 1)
        numbers[token].add(int(seq))
    gaps = {token: sorted(set(range(1, max(seqs) + 1)) - seqs)
            for token, seqs in numbers.items() if set(range(1, max(seqs) + 1)) - seqs}
    assert gaps == {}, f"segments never ingested: {gaps}"
    assert list((home / "spool").glob("*.jsonl")) == []
    assert not (home / "spool" / "refused").exists()
