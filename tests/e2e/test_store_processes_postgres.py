"""The PostgreSQL history shared by real OS processes on two data homes (two "hosts"):
concurrent prediction and decision/audit writers on both, a SIGKILLed writer recovered on
restart; every acknowledged prediction is there exactly once, ingestion numbers never repeat,
and the one audit chain they all append to verifies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from engine.clock import SystemClock
from engine.store import Store

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("store_worker.py")
REPO = Path(__file__).resolve().parents[2]
DURATION = 8.0


def _worker(home: Path, url: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, SPAMOPS_STORE__URL=url)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, str(WORKER), args[0], str(home), *args[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def hosts(tmp_path: Path, postgres_url: str) -> tuple[Path, Path]:
    """Two data homes on one PostgreSQL history, sharing the data home key as deployed."""
    first, second = tmp_path / "host-a", tmp_path / "host-b"
    setup = Store(first / "spamops.duckdb", first / "spool", clock=SystemClock(),
                  url=postgres_url)
    setup.migrate()
    setup.close()
    second.mkdir()
    shutil.copy2(first / "spamops.key", second / "spamops.key")
    return first, second


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as con:
        return con.execute(query).fetchall()  # type: ignore[arg-type]


def test_two_hosts_write_concurrently_and_lose_or_double_nothing(
        hosts: tuple[Path, Path], postgres_url: str) -> None:
    procs = [_worker(home, postgres_url, kind, str(DURATION), f"{kind[0]}{n}")
             for n, home in enumerate(hosts) for kind in ("predictions", "decisions")]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
    predicted = outputs[0][0].split() + outputs[2][0].split()
    decided = outputs[1][0].split() + outputs[3][0].split()
    assert len(predicted) > 1000 and len(decided) >= 4
    assert _rows(postgres_url, "SELECT count(*), count(DISTINCT id), count(DISTINCT ingest_seq)"
                 " FROM predictions") == [(len(predicted),) * 3]
    assert {r[0] for r in _rows(postgres_url, "SELECT id FROM predictions")} == set(predicted)
    assert _rows(postgres_url, "SELECT count(*) FROM decisions") == [(len(decided),)]
    assert _rows(postgres_url, "SELECT count(*) FROM audit_log WHERE action = 'decision'") == [
        (len(decided),)]
    for home in hosts:
        assert list((home / "spool").glob("*.jsonl")) == []
        reader = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(),
                       url=postgres_url, read_only=True)
        result = reader.verify_audit()
        reader.close()
        assert result.ok, result.message


def test_a_sigkilled_host_loses_no_acknowledged_prediction(
        hosts: tuple[Path, Path], postgres_url: str) -> None:
    home = hosts[0]
    proc = _worker(home, postgres_url, "forever", "k")
    assert proc.stdout is not None
    acknowledged: list[str] = []
    started = time.monotonic()
    while len(acknowledged) < 2000 or time.monotonic() - started < 1.0:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "worker ended"
        acknowledged.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    acknowledged += rest.split()
    assert list((home / "spool").glob("*.jsonl")), "the kill should leave a spool segment"

    restarted = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(),
                      url=postgres_url)
    restarted.migrate()
    restarted.close()
    stored = [r[0] for r in _rows(postgres_url, "SELECT id FROM predictions")]
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored)
    assert list((home / "spool").glob("*.jsonl")) == []
