"""How long a standby scheduler host takes to take over after the holder is SIGKILLed, with
the PostgreSQL advisory lock (issue 16, item 4). Prints one JSON line.

Two ``spamops monitor`` processes, each with its own data home, on one PostgreSQL database: the
first holds the scheduler, the second stands by. Each round SIGKILLs the holder and times until
the standby prints ``Scheduler active`` (the kill falls at a different phase of the standby's
retry cycle each round, so the spread shows the retry interval); a fresh standby is then
started for the next round. ``--url`` uses an existing (empty or spamops) database; without it
a throw-away PostgreSQL server is started on a loopback port (tests/postgres.py, the Debian
package ``postgresql``) and removed at the end.

Usage: python scripts/benchmarks/takeover.py [--rounds 3] [--takeover-seconds 30] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
SPAMOPS = Path(sys.executable).with_name("spamops")


class Monitor:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([str(SPAMOPS), "monitor"],
                                     env=dict(env, SPAMOPS_HOME=str(home)), text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line))

    def wait_for(self, text: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            at, line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if text in line:
                return at

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run(url: str, rounds: int, takeover: float, work: Path) -> dict[str, object]:
    from engine.clock import SystemClock
    from engine.store import Store

    homes = [work / f"host-{n}" for n in range(rounds + 1)]
    setup = Store(homes[0] / "spamops.duckdb", homes[0] / "spool", clock=SystemClock(), url=url)
    setup.migrate()
    setup.close()
    for home in homes[1:]:
        home.mkdir()
        shutil.copy2(homes[0] / "spamops.key", home / "spamops.key")
    env = dict(os.environ, SPAMOPS_STORE__URL=url, PYTHONUNBUFFERED="1",
               SPAMOPS_MONITORING__TAKEOVER_SECONDS=str(takeover),
               MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    holder = Monitor(homes[0], env)
    started = [holder]
    times: list[float] = []
    try:
        holder.wait_for("Scheduler active", timeout=120)
        for n in range(rounds):
            standby = Monitor(homes[n + 1], env)
            started.append(standby)
            standby.wait_for("Standby: scheduler held by", timeout=120)
            # Kill at a different phase of the standby's retry cycle each round.
            time.sleep(1.0 + (n + 0.5) / rounds * takeover / 6)
            killed = time.monotonic()
            holder.proc.send_signal(signal.SIGKILL)
            holder.proc.wait()
            times.append(standby.wait_for("Scheduler active", timeout=takeover + 60) - killed)
            holder = standby
    finally:
        for monitor in started:
            monitor.stop()
    return {"benchmark": "takeover", "takeover_seconds_setting": takeover,
            "retry_seconds": takeover / 6, "rounds": rounds,
            "takeover_p50_s": round(statistics.median(times), 2),
            "takeover_max_s": round(max(times), 2),
            "takeover_all_s": [round(t, 2) for t in times],
            "within_setting": all(t <= takeover for t in times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--takeover-seconds", type=float, default=30.0)
    parser.add_argument("--url", help="an existing PostgreSQL database (default: a throw-away "
                        "server)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spamops-takeover-"))
    server = None
    try:
        url = args.url
        if url is None:
            from tests.postgres import PostgresServer

            server = PostgresServer()
            server.start()
            url = server.database("takeover")
        print(json.dumps(run(url, args.rounds, args.takeover_seconds, work)))
    finally:
        if server is not None:
            server.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
