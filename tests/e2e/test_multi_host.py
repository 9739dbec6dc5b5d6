"""Several hosts on one PostgreSQL history and one MLflow tracking server (issue 16, "Must show").

Set-up, all real processes on loopback: a PostgreSQL cluster of the machine's own binaries
(``tests/postgres.py``, a cluster of this test's own, since the test stops it), one
``spamops mlflow-server`` whose backend store is that database (schema ``mlflow``) with a shared
artifact root, and two "hosts" A and B: separate data homes (spool, logs, locks; the same data
home key, as docs/deploy.md says), each running ``spamops serve`` and ``spamops monitor`` in a
process group of its own.

With traffic to both hosts throughout (two client threads per host), the test

1. SIGKILLs host B's server (its whole process group) under load and restarts it on the same
   port: B's spool is recovered by the restart;
2. stops PostgreSQL for ``OUTAGE_SECONDS`` and starts it again: both hosts answer ``/predict``
   into their spools, ``/health`` says so, and the spools drain when the database is back;
3. promotes version 2 with ``spamops promote`` on host A; host B then serves version 2;
4. SIGKILLs whichever monitor holds the scheduler; the other takes it over within
   ``monitoring.takeover_seconds`` (plus one poll).

Then, after both servers stopped (flushing their spools): every acknowledged prediction is in
the history exactly once, PostgreSQL never showed two holders of the scheduler's advisory lock
(sampled every 0.2 s) and showed one in every sample outside the outage and the takeover, the
audit chain verifies from both homes, and no request failed except those sent to B between its
kill and its restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from engine.clock import SystemClock
from engine.store import Store
from tests.conftest import dataset_source
from tests.e2e.multihost import (
    API_KEY,
    SPAMOPS,
    Host,
    LockWatch,
    Proc,
    Traffic,
    holder_pid,
    log,
    stored_ids,
    tenures,
    wait_for,
)
from tests.postgres import PostgresServer, free_port

pytestmark = pytest.mark.slow

REFRESH_SECONDS = 1.0
"""``server.champion_refresh_seconds`` of both hosts."""
TAKEOVER_SECONDS = 4.0
"""``monitoring.takeover_seconds`` of both monitors."""
OUTAGE_SECONDS = 10.0
START_TIMEOUT = 180.0
"""``mlflow server`` takes 8-30 s to answer on this machine, more under load."""


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A cluster of this test's own: the test stops and restarts it."""
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


def test_two_hosts_survive_a_killed_host_a_database_outage_a_promotion_and_a_takeover(
        tmp_path: Path, postgres: PostgresServer) -> None:
    began = time.monotonic()
    database = postgres.database("multihost")
    home_a, home_b = tmp_path / "host-a", tmp_path / "host-b"
    setup = Store(home_a / "spamops.duckdb", home_a / "spool", clock=SystemClock(),
                  url=database)
    setup.migrate()  # the schema and the data home key, as `spamops setup-database` does
    setup.close()
    home_b.mkdir()
    shutil.copy2(home_a / "spamops.key", home_b / "spamops.key")  # one key on every host

    base = {k: v for k, v in os.environ.items() if not k.startswith("SPAMOPS_")}
    tracking_port = free_port()
    tracking_url = f"http://127.0.0.1:{tracking_port}"
    tracking = Proc("mlflow-server",
                    ["--home", str(tmp_path / "tracking-home"), "mlflow-server", "--port",
                     str(tracking_port), "--workers", "1", "--artifacts-destination",
                     str(tmp_path / "shared-artifacts")],
                    {**base, "SPAMOPS_STORE__URL": database}, tmp_path / "mlflow.log").start()

    def host_env(home: Path) -> dict[str, str]:
        return {**base, "SPAMOPS_HOME": str(home), "SPAMOPS_API_KEY": API_KEY,
                "SPAMOPS_STORE__URL": database, "SPAMOPS_MLFLOW_TRACKING_URI": tracking_url,
                "SPAMOPS_DATASET_URL": dataset_source(),
                "SPAMOPS_SERVER__CHAMPION_REFRESH_SECONDS": str(REFRESH_SECONDS),
                "SPAMOPS_MONITORING__TAKEOVER_SECONDS": str(TAKEOVER_SECONDS)}

    hosts: list[Host] = []
    for name, home in (("A", home_a), ("B", home_b)):
        env, port = host_env(home), free_port()
        hosts.append(Host(name, home, env, port,
                          Proc(f"serve-{name}", ["serve", "--port", str(port)], env,
                               tmp_path / f"serve-{name}.log"),
                          Proc(f"monitor-{name}", ["monitor"], env,
                               tmp_path / f"monitor-{name}.log")))
    a, b = hosts
    procs = [tracking] + [p for h in hosts for p in (h.serve, h.monitor)]
    watch = LockWatch(database)
    traffic = Traffic(hosts)
    try:
        # Everything starts at once (the hosts find the champion when it appears): the
        # slow starts (mlflow server, imports) overlap.
        for host in hosts:
            host.serve.start()
            host.monitor.start()
        wait_for("mlflow-server answers",
                 lambda: tracking.alive() and httpx.get(f"{tracking_url}/health",
                                                        timeout=2).status_code == 200,
                 START_TIMEOUT, 0.5)
        trained = subprocess.run([str(SPAMOPS), "train"], env=a.env, capture_output=True,
                                 text=True, timeout=300)
        assert trained.returncode == 0, trained.stderr
        log(f"v1 trained, the champion ({time.monotonic() - began:.0f} s)")
        # v2 trains on A while the hosts load v1: the challenger promoted later.
        second = Proc("train-v2", ["train"], a.env, tmp_path / "train-v2.log").start()
        procs.append(second)
        for host in hosts:
            wait_for(f"host {host.name} serves v1",
                     lambda h=host: h.serve.alive() and h.health()["model_version"] == 1, 120)
        assert second.process is not None and second.process.wait(300) == 0, second.output()
        wait_for("a scheduler holder", lambda: holder_pid(hosts) is not None, 60)
        watch.start()
        log(f"hosts up ({time.monotonic() - began:.0f} s)")

        # Concurrent traffic to both hosts.
        traffic.start()
        wait_for("traffic on both hosts",
                 lambda: all(traffic.count(h.name, 0) >= 20 for h in hosts), 60)

        # 1. Host B dies under load and comes back on the same port.
        killed_at = time.monotonic()
        b.serve.kill()
        left = len(list((b.home / "spool").glob("*.jsonl")))  # recovered by the restart
        b.serve.start()
        wait_for("host B back", lambda: b.health()["model_version"] == 1, 120)
        back_at = time.monotonic()
        wait_for("traffic on B after its restart", lambda: traffic.count("B", back_at) >= 20, 60)
        log(f"B killed (leaving {left} spool segments) and back in {back_at - killed_at:.1f} s")

        # 2. PostgreSQL away for OUTAGE_SECONDS while traffic continues.
        before_outage = {h.name: traffic.count(h.name, 0) for h in hosts}
        postgres.stop()
        outage_at = time.monotonic()
        wait_for("A says the store is unreachable and spools",
                 lambda: any("spooled" in p for p in a.health()["problems"]), OUTAGE_SECONDS)
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_at)))
        served_in_outage = {h.name: traffic.count(h.name, 0) - before_outage[h.name]
                            for h in hosts}
        postgres.start()
        restored_at = time.monotonic()
        for host in hosts:
            wait_for(f"host {host.name}'s spool drained",
                     lambda h=host: h.health()["store_reachable"] and not any(
                         "spooled" in p for p in h.health()["problems"]), 60)
        log(f"outage {restored_at - outage_at:.1f} s, served meanwhile {served_in_outage}")
        assert all(n > 0 for n in served_in_outage.values()), served_in_outage

        # 3. A promotion on host A that host B then serves.
        promoting = time.monotonic()
        promoted = subprocess.run([str(SPAMOPS), "promote", "2"], env=a.env,
                                  capture_output=True, text=True, timeout=120)
        assert promoted.returncode == 0, promoted.stderr
        promoted_at = time.monotonic()
        switched = wait_for("B serves v2", lambda: any(
            name == "B" and t >= promoted_at and v == 2 for name, t, v in traffic.served), 30)
        log(f"B served v2 {switched:.1f} s after `spamops promote 2` on A returned "
            f"({promoted_at - promoting:.1f} s long)")

        # 4. The scheduler holder dies; the other monitor takes over.
        pid = holder_pid(hosts)
        holder = next(p for h in hosts for p in (h.monitor,) if p.pid == pid)
        other = next(h.monitor for h in hosts if h.monitor is not holder)
        holder.kill()
        holder_died = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        takeover_from = time.monotonic()
        took = wait_for("the other monitor holds the scheduler",
                        lambda: holder_pid(hosts) == other.pid, TAKEOVER_SECONDS + 30)
        takeover_until = time.monotonic()
        log(f"{other.name} took the scheduler over {took:.1f} s after {holder.name} died")
        assert took <= TAKEOVER_SECONDS + 5, took
        time.sleep(1.0)
    finally:
        traffic.finish()
        watch.finish()
        for proc in procs:  # Ctrl-C to all at once: the servers flush their spools
            proc.interrupt()
        for proc in procs:
            if proc.stop() not in (0, None, -signal.SIGKILL):
                log(f"{proc.name} exited with {proc.process and proc.process.returncode}: "
                    f"{proc.output()}")

    # Every acknowledged prediction is in the history exactly once.
    ids = stored_ids(database)
    assert len(ids) == len(set(ids)), "a prediction was stored twice"
    acknowledged = {pid for _, pid, _ in traffic.acknowledged}
    assert len(acknowledged) == len(traffic.acknowledged)
    missing = acknowledged - set(ids)
    assert not missing, f"{len(missing)} acknowledged predictions lost"
    for host in hosts:
        assert list((host.home / "spool").glob("*.jsonl")) == [], host.name

    # No request failed except those sent to B while it was down.
    unexpected = [f for f in traffic.failures
                  if not (f[0] == "B" and killed_at <= f[1] <= back_at)]
    assert unexpected == [], unexpected[:5]

    # Never two holders; one in every sample outside the outage and the takeover.
    assert watch.samples, "the lock watch never sampled"
    assert all(h is None or len(h) <= 1 for _, h in watch.samples), [
        h for _, h in watch.samples if h and len(h) > 1][:3]
    settle = TAKEOVER_SECONDS + 5  # after the outage, a monitor notices and takes it back
    steady = [h for t, h in watch.samples
              if not outage_at - 0.5 <= t <= restored_at + settle
              and not takeover_from - 0.5 <= t <= takeover_until + 0.5]
    assert steady and all(h is not None and len(h) == 1 for h in steady), [
        h for h in steady if not h or len(h) != 1][:3]

    # ... and never two monitors that say they hold it at the same time.
    spans = {proc.name: tenures(proc.log_path.read_text(errors="replace"),
                                holder_died if proc is holder else None)
             for proc in (a.monitor, b.monitor)}
    assert all(spans.values()), spans  # both held it at some point (the takeover)
    for first_start, first_end in spans[a.monitor.name]:
        for second_start, second_end in spans[b.monitor.name]:
            assert first_end <= second_start or second_end <= first_start, spans

    # The registry the hosts shared lives in PostgreSQL too (the tracking server's backend
    # store, schema mlflow), and says what B served at the end.
    with psycopg.connect(database) as con:
        aliases = {str(alias): int(version) for alias, version in con.execute(
            "SELECT alias, version FROM mlflow.registered_model_aliases").fetchall()}
    assert aliases == {"champion": 2, "previous": 1}, aliases
    # Never back to v1 (a request already being scored when B switched may still answer v1).
    switched_at = promoted_at + switched + 1.0
    assert {v for name, t, v in traffic.served if name == "B" and t >= switched_at} == {2}

    # The one audit chain verifies, read from either host (both at once).
    verifying = [(host.name, subprocess.Popen([str(SPAMOPS), "audit", "verify"], env=host.env,
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                              text=True)) for host in hosts]
    for name, proc in verifying:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"audit verify on {name}: {out}"

    log(f"{len(acknowledged)} acknowledged, {len(ids)} stored, "
        f"{len(traffic.failures)} failed (all to B while down); "
        f"wall time {time.monotonic() - began:.0f} s")
