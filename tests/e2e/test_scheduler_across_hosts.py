"""One scheduler, one retrain and one check at a time across hosts, with real processes on
one real PostgreSQL history (tests/postgres.py) and a data home per "host" (issue 16, item 4).

Each host is its own data home (a copy of the trained template, as a deployed host has its own
registry copy and the shared data home key) whose ``store.url`` is the same PostgreSQL
database. Processes are the real CLI (``spamops monitor``, ``spamops retrain``) or, for
checks, the same ``Services`` path in a ``python`` process that waits on a start file. A
retrain or check that lost its lock to a PostgreSQL restart is paused between phases with a
``pause`` fail point (engine/failpoints.py) and must stop without recording an outcome.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.conftest import copy_home, dataset_source
from tests.e2e.test_checks_and_recovery import CHECK_SCRIPT
from tests.postgres import PostgresServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SPAMOPS = Path(sys.executable).with_name("spamops")
TAKEOVER = 6.0
"""``monitoring.takeover_seconds`` of these hosts (standby hosts retry every second)."""


def _env(home: Path, url: str) -> dict[str, str]:
    env = dict(os.environ, SPAMOPS_HOME=str(home), SPAMOPS_STORE__URL=url,
               SPAMOPS_MONITORING__TAKEOVER_SECONDS=str(TAKEOVER),
               SPAMOPS_DATASET_URL=dataset_source(),
               MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def hosts(tmp_path: Path, postgres_url: str, _trained_template: Path) -> tuple[Path, Path]:
    """Two trained data homes on one PostgreSQL history (host a migrated its history there)."""
    first, second = tmp_path / "host-a", tmp_path / "host-b"
    copy_home(_trained_template, first)
    copy_home(_trained_template, second)  # the same data home key, as deploy.md says
    env = _env(first, "")
    del env["SPAMOPS_STORE__URL"]
    done = subprocess.run([str(SPAMOPS), "store", "migrate", "--to", postgres_url],
                          env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return first, second


@dataclass
class Monitor:
    """A ``spamops monitor`` process and the lines it printed, each with when it was read."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[tuple[float, str]] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def wait_for(self, text: str, timeout: float) -> float:
        """When the first line containing ``text`` (from now on) was read (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                at, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout}s; saw {self.seen}") from None
            self.seen.append(line)
            if text in line:
                return at


def _monitor(home: Path, url: str) -> Monitor:
    proc = subprocess.Popen([str(SPAMOPS), "monitor"], env=_env(home, url), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    monitor = Monitor(proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            monitor.lines.put((time.monotonic(), line.rstrip()))

    threading.Thread(target=pump, daemon=True).start()
    return monitor


@pytest.fixture
def monitors() -> Iterator[list[Monitor]]:
    started: list[Monitor] = []
    yield started
    for monitor in started:
        if monitor.proc.poll() is None:
            monitor.proc.send_signal(signal.SIGTERM)
            try:
                monitor.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                monitor.proc.kill()
                monitor.proc.wait()


def _status(home: Path, url: str) -> dict[str, object]:
    done = subprocess.run([str(SPAMOPS), "monitor", "--status", "--json"], env=_env(home, url),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _holders(url: str) -> list[str]:
    """The application names of the sessions holding any spamops advisory lock now."""
    with psycopg.connect(url) as con:
        rows = con.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND a.application_name LIKE 'spamops-lock monitor %'").fetchall()
    return [str(r[0]) for r in rows]


def test_one_scheduler_holder_and_a_takeover_within_takeover_seconds(
        hosts: tuple[Path, Path], postgres_url: str, monitors: list[Monitor]) -> None:
    first, second = hosts
    monitors.append(_monitor(first, postgres_url))
    monitors[0].wait_for("Scheduler active", timeout=120)
    monitors.append(_monitor(second, postgres_url))
    monitors[1].wait_for(f"Standby: scheduler held by monitor on {socket.gethostname()} "
                         f"(pid {monitors[0].proc.pid})", timeout=120)
    # Exactly one holder, seen alike from both hosts, for a few standby retry rounds.
    for _ in range(3):
        assert _holders(postgres_url) == [f"spamops-lock monitor {monitors[0].proc.pid} "
                                          f"{socket.gethostname()}"]
        for home in hosts:
            holder = _status(home, postgres_url)["holder"]
            assert isinstance(holder, dict) and holder["pid"] == monitors[0].proc.pid
    while not monitors[1].lines.empty():  # its job list (no next runs) and nothing else
        monitors[1].seen.append(monitors[1].lines.get()[1])
    assert not any("Scheduler active" in line for line in monitors[1].seen), monitors[1].seen

    killed_at = time.monotonic()
    monitors[0].proc.send_signal(signal.SIGKILL)
    monitors[0].proc.wait()
    active_at = monitors[1].wait_for("Scheduler active", timeout=TAKEOVER + 30)
    takeover = active_at - killed_at
    print(f"takeover after SIGKILL: {takeover:.2f}s (takeover_seconds {TAKEOVER:g})")
    assert takeover <= TAKEOVER, f"took over after {takeover:.1f}s"
    assert _holders(postgres_url) == [f"spamops-lock monitor {monitors[1].proc.pid} "
                                      f"{socket.gethostname()}"]
    holder = _status(first, postgres_url)["holder"]
    assert isinstance(holder, dict) and holder["pid"] == monitors[1].proc.pid
    with psycopg.connect(postgres_url) as con:
        audited = con.execute("SELECT subject, actor FROM audit_log "
                              "WHERE action = 'scheduler.takeover'").fetchall()
    assert len(audited) == 1 and f"(pid {monitors[1].proc.pid})" in audited[0][0]
    assert audited[0][1] == "system"


def test_a_postgresql_restart_makes_the_holder_stop_then_one_host_holds_again(
        hosts: tuple[Path, Path], postgres_url: str, postgres_server: PostgresServer,
        monitors: list[Monitor]) -> None:
    first, second = hosts
    monitors.append(_monitor(first, postgres_url))
    monitors[0].wait_for("Scheduler active", timeout=120)
    monitors.append(_monitor(second, postgres_url))
    monitors[1].wait_for("Standby: scheduler held by", timeout=120)

    postgres_server.stop()  # every session ends: the holder's lock with it
    try:
        monitors[0].wait_for("Scheduler lost its lock", timeout=TAKEOVER + 10)
        time.sleep(2)  # nobody can take it while the server is down
    finally:
        postgres_server.start()
    deadline = time.monotonic() + TAKEOVER + 20
    while not _holders(postgres_url):
        assert time.monotonic() < deadline, "no host took the scheduler back"
        time.sleep(0.2)
    time.sleep(2 * TAKEOVER / 6)  # a retry round for the other host: it must stay out
    holders = _holders(postgres_url)
    assert len(holders) == 1
    winner = next(m for m in monitors if f" {m.proc.pid} " in holders[0])
    winner.wait_for("Scheduler active", timeout=10)
    for monitor in monitors:  # what each host last said about itself
        while not monitor.lines.empty():
            monitor.seen.append(monitor.lines.get()[1])
        states = [line for line in monitor.seen
                  if "Scheduler active" in line or "Standby:" in line or "lost its lock" in line]
        assert ("Scheduler active" in states[-1]) == (monitor is winner), states
        assert monitor.proc.poll() is None


def test_two_retrains_from_two_hosts_at_once_one_runs_the_other_is_refused(
        hosts: tuple[Path, Path], postgres_url: str) -> None:
    procs = [subprocess.Popen([str(SPAMOPS), "retrain", "--yes"], env=_env(home, postgres_url),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for home in hosts]
    results = [(proc.pid, *proc.communicate(timeout=600), proc.returncode) for proc in procs]
    ran = [r for r in results if r[3] == 0]
    refused = [r for r in results if r[3] == 4]
    assert len(ran) == 1 and len(refused) == 1, results
    line = refused[0][2].strip().splitlines()[-1]
    assert line.startswith(f"error: a retrain is already running (retrain on "
                           f"{socket.gethostname()}, pid {ran[0][0]}, since "), line
    assert "Traceback" not in refused[0][2]
    with psycopg.connect(postgres_url) as con:
        events = con.execute("SELECT status, pid FROM retraining_events").fetchall()
    assert events == [("completed", ran[0][0])]


def test_a_check_from_a_second_host_waits_its_turn(hosts: tuple[Path, Path],
                                                   postgres_url: str, tmp_path: Path) -> None:
    seed = subprocess.run([sys.executable, "-c",
                           "from engine.config import load_settings\n"
                           "from engine.services import Services\n"
                           "s = Services(load_settings()); s.simulate(messages=400, seed=11)\n"
                           "s.drift_detector(); s.close()"],
                          env=_env(hosts[0], postgres_url), capture_output=True, text=True,
                          timeout=300, check=False)
    assert seed.returncode == 0, seed.stderr
    warm = subprocess.run([sys.executable, "-c", "from engine.config import load_settings\n"
                           "from engine.services import Services\n"
                           "s = Services(load_settings()); s.drift_detector(); s.close()"],
                          env=_env(hosts[1], postgres_url), capture_output=True, text=True,
                          timeout=300, check=False)
    assert warm.returncode == 0, warm.stderr  # both hosts start equally warm
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CHECK_SCRIPT, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(home, postgres_url)) for home in (*hosts, hosts[1])]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()  # type: ignore[union-attr]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append((proc.pid, json.loads(out.strip().splitlines()[-1])))
    checked = [(pid, r) for pid, r in results if "window" in r]
    assert sum(r["window"] for _, r in checked) == 400, results  # every prediction once
    assert sum(1 for _, r in checked if r["snapshot"]) == 1, results
    refusals = [(pid, r["refused"]) for pid, r in results if "refused" in r]
    assert refusals, results  # they started together: the lock, not luck, kept them apart
    for pid, text in refusals:
        assert text.startswith(f"a monitoring check is already running (check on "
                               f"{socket.gethostname()}, pid "), text
        assert int(text.split("pid ")[1].split(",")[0]) in {p for p, _ in checked} - {pid}
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT count(*) FROM drift_snapshots").fetchone() == (1,)


def test_a_retrain_that_lost_its_lock_to_a_restart_stops_and_the_other_host_runs(
        hosts: tuple[Path, Path], postgres_url: str, postgres_server: PostgresServer,
        tmp_path: Path) -> None:
    """Fencing: host a's retrain pauses after training (fail point); PostgreSQL restarts, so
    its lock session ends; host b's retrain takes the lock. When a goes on, its next lock
    check stops it: nothing deployed, its event ``interrupted``; b's retrain completes."""
    points = tmp_path / "failpoints"
    points.mkdir()
    env = dict(_env(hosts[0], postgres_url), SPAMOPS_FAILPOINTS="retrain.after_training=pause",
               SPAMOPS_FAILPOINTS_DIR=str(points))
    first = subprocess.Popen([str(SPAMOPS), "retrain", "--yes"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 300
        while not (points / "retrain.after_training.paused").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first retrain never reached the pause"
            time.sleep(0.2)
        postgres_server.stop()
        postgres_server.start()
        second = subprocess.Popen([str(SPAMOPS), "retrain", "--yes"],
                                  env=_env(hosts[1], postgres_url), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        holder = f"spamops-lock retrain {second.pid} "
        deadline = time.monotonic() + 120
        while not any(name.startswith(holder) for name in _lock_sessions(postgres_url)):
            assert second.poll() is None, second.communicate()
            assert time.monotonic() < deadline, "the second retrain never took the lock"
            time.sleep(0.2)
        (points / "retrain.after_training.resume").touch()  # both retrains run now
        out, err = first.communicate(timeout=300)
        assert first.returncode == 4, (out, err)
        assert err.strip().splitlines()[-1] == (
            "error: retrain stopped: its lock on PostgreSQL was lost (server restarted?); "
            "another host may hold it now"), err
        assert "Traceback" not in err
        out2, err2 = second.communicate(timeout=600)
        assert second.returncode == 0, (out2, err2)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    with psycopg.connect(postgres_url) as con:
        events = dict(con.execute(  # pid -> (status, deployment, id)
            "SELECT pid, (status, deployment, id) FROM retraining_events").fetchall())
        assert set(events) == {first.pid, second.pid}
        status, deployment, first_id = events[first.pid]
        assert (status, deployment) == ("interrupted", None)
        assert events[second.pid][0] == "completed"
        first_audit = [row[0] for row in con.execute(
            "SELECT action FROM audit_log WHERE subject = %s ORDER BY seq", [first_id])]
        switches = con.execute("SELECT count(*) FROM audit_log WHERE action LIKE 'champion.%%' "
                               "AND details::text LIKE %s", [f"%{first_id}%"]).fetchone()
    assert first_audit == ["retrain.started", "retrain.interrupted"], first_audit
    assert switches == (0,)  # the first never reached the champion switch


def _lock_sessions(url: str) -> list[str]:
    """The application names of the sessions holding any advisory lock now."""
    with psycopg.connect(url) as con:
        rows = con.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted").fetchall()
    return [str(r[0]) for r in rows]


def test_a_check_that_lost_its_lock_to_a_restart_records_nothing(
        hosts: tuple[Path, Path], postgres_url: str, postgres_server: PostgresServer,
        tmp_path: Path) -> None:
    """Host a's check scores its window, then pauses before recording it (fail point);
    PostgreSQL restarts and host b's check records that window. Host a must not record it
    a second time: it stops with the lock-lost line, audited as interrupted."""
    seed = subprocess.run([sys.executable, "-c",
                           "from engine.config import load_settings\n"
                           "from engine.services import Services\n"
                           "s = Services(load_settings()); s.simulate(messages=400, seed=11)\n"
                           "s.close()"],
                          env=_env(hosts[0], postgres_url), capture_output=True, text=True,
                          timeout=300, check=False)
    assert seed.returncode == 0, seed.stderr
    points, go = tmp_path / "failpoints", tmp_path / "go"
    points.mkdir()
    go.touch()
    env = dict(_env(hosts[0], postgres_url), SPAMOPS_FAILPOINTS="check.before_record=pause",
               SPAMOPS_FAILPOINTS_DIR=str(points))
    first = subprocess.Popen([sys.executable, "-c", CHECK_SCRIPT, str(go)], env=env,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not (points / "check.before_record.paused").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first check never reached the pause"
            time.sleep(0.2)
        postgres_server.stop()
        postgres_server.start()
        second = subprocess.run([sys.executable, "-c", CHECK_SCRIPT, str(go)],
                                env=_env(hosts[1], postgres_url), text=True,
                                capture_output=True, timeout=300, check=False)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout.strip().splitlines()[-1])["window"] == 400
        (points / "check.before_record.resume").touch()
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"refused": (
        "check stopped: its lock on PostgreSQL was lost (server restarted?); another host "
        "may hold it now")}
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT count(*) FROM drift_snapshots").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM decisions").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM audit_log "
                           "WHERE action = 'monitor.interrupted'").fetchone() == (1,)
