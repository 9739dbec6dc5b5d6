"""Soak test of one data home under concurrent activity: prints exactly one JSON line.

For ``--duration`` seconds (default 600) real ``spamops`` processes share one data home:

- ``spamops serve`` under ``/predict`` load (``--clients`` threads, ``--rate`` requests/s in
  all), with ``/health`` timed every ``HEALTH_EVERY`` seconds;
- ``spamops monitor`` (the scheduler: a check every ``duration / 8``), checks requested
  through the API (``POST /monitor/check``) and the CLI (``spamops monitor --check-now``);
- a retrain on drifted, labelled traffic under the manual approval policy, and the approval
  of its challenger when it qualifies;
- a promotion and a rollback;
- a SIGKILL of the API (at 40 %) and of the monitor (at 70 %), each restarted at once;
- an analyst running ``spamops sql`` in a loop.

Then everything is stopped and the home is read back. Keys:

- ``acknowledged``: ``/predict`` answers with a prediction id; ``acknowledged_missing`` (not
  in the history), ``acknowledged_duplicated`` (more than once) — targets 0;
  ``acknowledged_missing_at``: when the missing ones were answered (seconds from the start,
  first 50; compare with the ``--trace`` timeline); ``spool_segments_unledgered``: per spool
  writer, segment numbers missing from the ``spool_segments`` ledger (target ``{}``);
  ``logged_not_acknowledged`` (the API logged it, then was killed before answering: allowed).
- ``windows``: snapshots (each covers a range of ingestion numbers, issue 14 item 8);
  ``windows_overlapping``: snapshots whose range starts at or before the previous one's end
  (a prediction evaluated twice; target 0); ``predictions_escaped``: predictions numbered at
  or below the last window's end that no window covers (target 0);
  ``acknowledged_after_last_window``: ingested after the last check, waiting for the next
  (allowed).
- ``aliases``, ``aliases_from_audit``, ``aliases_match_audit``: the registry's champion and
  previous against the newest audit record that carries ``aliases``.
- ``audit_intact``: ``spamops audit verify``.
- ``health_ms_p50/p99/max``, ``health_failed`` (no answer while the API was up).
- ``rss_mib``: per long-lived process instance (``api#1``, ``monitor#2``, ...; VmRSS every
  2 s): ``ready`` (first sample once ready: the API healthy, the monitor ``RSS_WARMUP`` s
  after it started),
  ``baseline`` (first sample once started up: the API has answered its first ``/predict``,
  so the champion is loaded; the monitor has finished its first scheduled check, or, if it
  ran none, ``RSS_WARMUP`` s after it was ready; ``baseline_after`` says which), ``end`` (last
  sample), ``peak`` (highest sample from the baseline on), and ``growth`` = end - baseline.
  ``rss_growth_mib`` lists each instance's ``growth``, target < 50 MiB;
  ``rss_growth_max_mib`` the largest, ``rss_peak_growth_max_mib`` the largest peak - baseline
  and ``rss_growth_from_ready_max_mib`` the largest end - ready (start-up included).
- ``events``: what happened (versions, approval id or why none, kills, errors), so a reader
  can tell a number that is good from one that was not measured.

Usage: ``python scripts/benchmarks/soak.py [--duration 600] [--home DIR] [--keep]``
(develop with ``--duration 60``). Numbers depend on the machine's load; run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx

SPAMOPS = str(Path(sys.executable).parent / "spamops")
API_KEY = secrets.token_urlsafe(24)
"""A fresh key per run (the settings refuse placeholder-looking keys)."""
HEALTH_EVERY = 0.25
RSS_WARMUP = 15.0
SAMPLE_TEXTS = [
    "are we still on for dinner tonight?", "call me when you get home",
    "WINNER!! claim your free prize now, call 09061701461",
    "URGENT: your parcel is held, pay the fee at http://bit.ly/x",
    "ok see you at the station at 7", "Sorry, I'll call later",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Soak:
    """The processes and threads of one soak run, and what they observed."""

    def __init__(self, home: Path, duration: float, clients: int, rate: float) -> None:
        self.home = home
        self.duration = duration
        self.clients = clients
        self.rate = rate
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SPAMOPS_HOME": str(home), "SPAMOPS_API_KEY": API_KEY,
                    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                    "SPAMOPS_MONITORING__APPROVAL_POLICY": "manual",
                    "SPAMOPS_MONITORING__INTERVAL_MINUTES": f"{max(duration / 8, 10) / 60:.4f}",
                    "SPAMOPS_MONITORING__RETRAIN_COOLDOWN_HOURS": "0"}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[str] = []
        self.acked_at: list[float] = []
        """When each acknowledgement arrived (monotonic), parallel to ``acked``."""
        self.health_ms: list[float] = []
        self.health_failed = 0
        self.api_up = threading.Event()
        self.events: dict[str, Any] = {"errors": []}
        self.rss: dict[str, list[tuple[float, float, float]]] = {}
        """Per instance: (monotonic time, wall-clock time, VmRSS MiB) every 2 s."""
        self.ready: dict[str, float] = {}
        """When each instance was ready (the API: healthy)."""
        self.first_answer: dict[str, float] = {}
        """When each API instance answered its first ``/predict`` (its RSS baseline)."""
        self.pids: dict[str, int] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.instance: Counter[str] = Counter()
        self.logs = home / "soak-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.timeline: list[tuple[float, str]] = []

    # Processes ----------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SPAMOPS, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def start(self, name: str, *args: str) -> None:
        self.instance[name] += 1
        key = f"{name}#{self.instance[name]}"
        log = (self.logs / f"{key}.log").open("wb")
        self.processes[name] = subprocess.Popen([SPAMOPS, *args], env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT)
        self.rss[key] = []
        self.ready[key] = time.monotonic()
        self.pids[key] = self.processes[name].pid
        if name == "api":
            self.api_up.clear()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"spamops serve exited: {self.logs / key}.log")
                try:
                    if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                        self.ready[key] = time.monotonic()
                        self.api_up.set()
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            raise RuntimeError("spamops serve did not become healthy in 120 s")

    def kill(self, name: str) -> None:
        process = self.processes[name]
        if name == "api":
            self.api_up.clear()
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.events.setdefault("killed", []).append(name)

    def terminate_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # Threads ------------------------------------------------------------------------------
    def load(self, index: int) -> None:
        interval = self.clients / self.rate
        with httpx.Client(base_url=self.url, headers={"X-API-Key": API_KEY},
                          timeout=10) as client:
            i = index
            while not self.stop.is_set():
                started = time.monotonic()
                if self.api_up.is_set():
                    text = f"{SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)]} ({i})"
                    try:
                        response = client.post("/predict", json={"text": text})
                        if response.status_code == 200:
                            with self.lock:
                                self.acked.append(response.json()["prediction_id"])
                                self.acked_at.append(time.monotonic())
                                self.first_answer.setdefault(
                                    f"api#{self.instance['api']}", time.monotonic())
                    except httpx.TransportError:
                        pass  # the API was killed mid-request: not acknowledged
                    i += self.clients
                self.stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def health(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self.stop.wait(HEALTH_EVERY):
                if not self.api_up.is_set():
                    continue
                started = time.perf_counter()
                try:
                    client.get("/health")
                    self.health_ms.append((time.perf_counter() - started) * 1000)
                except httpx.TransportError:
                    if self.api_up.is_set():
                        self.health_failed += 1

    def analyst(self) -> None:
        runs = failures = 0
        while not self.stop.is_set():
            result = self.cli("sql", "SELECT count(*) AS n FROM predictions", "--json",
                              timeout=120)
            runs += 1
            failures += result.returncode != 0
        self.events["analyst_queries"] = runs
        self.events["analyst_failures"] = failures

    def sample_rss(self) -> None:
        while not self.stop.wait(2.0):
            for name, process in list(self.processes.items()):
                key = f"{name}#{self.instance[name]}"
                value = rss_mib(process.pid) if process.poll() is None else None
                if value is not None:
                    self.rss[key].append((time.monotonic(), time.time(), value))

    # The scenario -------------------------------------------------------------------------
    def step(self, what: str, action: Callable[[], Any]) -> None:
        self.timeline.append((time.monotonic(), f"{what} started"))
        try:
            action()
            self.timeline.append((time.monotonic(), f"{what} done"))
        except Exception as exc:  # record and go on: the soak reports what it saw
            self.events["errors"].append(f"{what}: {str(exc).splitlines()[0][:200]}")

    def check_via_api(self) -> None:
        response = httpx.post(f"{self.url}/monitor/check", headers={"X-API-Key": API_KEY},
                              timeout=300)
        self.events.setdefault("api_checks", []).append(response.status_code)

    def check_via_cli(self) -> None:
        result = self.cli("monitor", "--check-now", "--no-retrain", "--json")
        self.events.setdefault("cli_checks", []).append(result.returncode)

    def retrain_and_approve(self) -> None:
        simulated = self.cli("simulate", "--messages", "1000", "--drift", "0.5",
                             "--label-rate", "0.8", "--seed", "3", "--json")
        if simulated.returncode:
            raise RuntimeError(f"simulate failed: {simulated.stderr.strip()}")
        # The scheduler's check may start a retrain on the same drift first: wait for it
        # (refused while it runs), then retrain; approve whichever challenger qualified.
        for _ in range(60):
            retrain = self.cli("retrain", "--yes", "--json")
            if "already running" not in retrain.stderr:
                break
            self.events["retrain_waited"] = self.events.get("retrain_waited", 0) + 1
            self.stop.wait(5)
        if retrain.stdout.strip():
            self.events["retrain"] = json.loads(retrain.stdout).get(
                "deployment", {}).get("decision")
        else:
            self.events["retrain"] = retrain.stderr.strip()[:200]
        pending = json.loads(self.cli("approvals", "--json").stdout or "[]")
        pending = pending.get("data", pending) if isinstance(pending, dict) else pending
        if not pending:
            self.events["approval"] = "none: no challenger qualified"
            return
        approval_id = pending[0]["id"]
        approved = self.cli("approve", approval_id, "--json")
        self.events["approval"] = approval_id if approved.returncode == 0 else \
            f"refused: {approved.stderr.strip()}"

    def promote_and_rollback(self) -> None:
        models = json.loads(self.cli("models", "--json").stdout)
        champion = next(m["version"] for m in models if "champion" in m["aliases"])
        other = next((m["version"] for m in models if m["version"] != champion), None)
        if other is None:
            trained = self.cli("train", "--json")
            if trained.returncode:
                raise RuntimeError(f"train failed: {trained.stderr.strip()}")
            other = json.loads(trained.stdout)["version"]
        promoted = self.cli("promote", str(other), "--expect-champion", str(champion))
        self.events["promote"] = f"v{other}" if promoted.returncode == 0 else \
            promoted.stderr.strip()
        self.stop.wait(self.duration * 0.05)
        rolled = self.cli("rollback", "--json")
        self.events["rollback"] = "ok" if rolled.returncode == 0 else rolled.stderr.strip()

    def run(self) -> None:
        self.start("api", "serve", "--port", str(self.port))
        self.start("monitor", "monitor")
        threads = [threading.Thread(target=self.load, args=(i,), daemon=True)
                   for i in range(self.clients)]
        threads += [threading.Thread(target=t, daemon=True)
                    for t in (self.health, self.analyst, self.sample_rss)]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        plan: list[tuple[float, str, Callable[[], Any]]] = [
            (0.10, "api check", self.check_via_api),
            (0.15, "retrain", self.retrain_and_approve),
            (0.30, "cli check", self.check_via_cli),
            (0.40, "kill api", lambda: (self.kill("api"),
                                        self.start("api", "serve", "--port", str(self.port)))),
            (0.45, "promote/rollback", self.promote_and_rollback),
            (0.60, "api check", self.check_via_api),
            (0.70, "kill monitor", lambda: (self.kill("monitor"),
                                            self.start("monitor", "monitor"))),
            (0.80, "cli check", self.check_via_cli),
            (0.90, "api check", self.check_via_api),
        ]
        for at, what, action in plan:
            self.stop.wait(max(0.0, began + at * self.duration - time.monotonic()))
            self.step(what, action)
        self.stop.wait(max(0.0, began + self.duration - time.monotonic()))
        self.stop.set()
        for thread in threads:
            thread.join(timeout=180)
        self.terminate_all()

    def write_trace(self, path: Path) -> None:
        origin = min(self.ready.values())
        path.write_text(json.dumps({
            "ready": {k: round(v - origin, 1) for k, v in self.ready.items()},
            "rss_mib": {k: [(round(t - origin, 1), round(v, 1)) for t, _w, v in samples]
                        for k, samples in self.rss.items()},
            "timeline": [(round(t - origin, 1), what) for t, what in self.timeline],
            "first_answer": {k: round(v - origin, 1) for k, v in self.first_answer.items()},
        }))

    def rss_report(self, monitor_checks: Any) -> dict[str, dict[str, Any]]:
        """Ready, baseline, end and peak RSS of each instance (see the module docstring)."""
        out: dict[str, dict[str, Any]] = {}
        for key, samples in self.rss.items():
            if len(samples) < 2:
                continue
            baseline_at, after = self.ready[key] + RSS_WARMUP, f"ready + {RSS_WARMUP:g} s"
            if key.startswith("api#") and key in self.first_answer:
                baseline_at, after = self.first_answer[key], "first /predict answered"
            elif key.startswith("monitor#"):
                pid = f":{self.pids[key]}"
                ends = [ts for holder, ts in zip(monitor_checks["holder"],
                                                 monitor_checks["finished_at"], strict=True)
                        if str(holder).endswith(pid)]
                if ends:  # job runs are stamped in UTC wall-clock time
                    first = ends[0].replace(tzinfo=UTC) if ends[0].tzinfo is None else ends[0]
                    wall = first.timestamp()
                    baseline_at = next((t for t, w, _v in samples if w >= wall),
                                       samples[-1][0])
                    after = "first scheduled check finished"
            later = [v for t, _w, v in samples if t >= baseline_at] or [samples[-1][2]]
            # Ready: the API healthy; the monitor RSS_WARMUP s after it started (imports
            # done, scheduler up), as the soak cannot see its start-up end.
            ready_at = self.ready[key] + (RSS_WARMUP if key.startswith("monitor#") else 0.0)
            ready = next((v for t, _w, v in samples if t >= ready_at), samples[-1][2])
            out[key] = {"ready": round(ready, 1), "baseline": round(later[0], 1),
                        "baseline_after": after, "end": round(samples[-1][2], 1),
                        "peak": round(max(later), 1),
                        "growth": round(samples[-1][2] - later[0], 1)}
        return out

    # Reading the home back ----------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        from engine.config import load_settings
        from engine.services import Services

        services = Services(load_settings(home=self.home))
        try:
            store = services.store
            history = store.query_frame("SELECT id, ts FROM predictions")
            counts = Counter(str(i) for i in history["id"])
            acked = set(self.acked)
            api_logged = set(store.query_frame(
                "SELECT id FROM predictions WHERE source = 'api'")["id"].astype(str))
            # Windows are cut by ingestion order (issue 14, item 8): each snapshot covers the
            # ingest numbers [ingest_seq_from, ingest_seq_to]. A prediction escapes when its
            # number lies at or below the last window's end but in no window; a window
            # overlaps when it starts at or before the previous one's end.
            snapshots = store.query_frame(
                "SELECT ingest_seq_from, ingest_seq_to FROM drift_snapshots "
                "WHERE ingest_seq_to IS NOT NULL AND ingest_seq_to >= ingest_seq_from "
                "ORDER BY ingest_seq_from")
            overlapping, previous_to = 0, 0
            for row in snapshots.itertuples():
                if int(row.ingest_seq_from) <= previous_to:
                    overlapping += 1
                previous_to = max(previous_to, int(row.ingest_seq_to))
            covered = store.query_frame(
                "SELECT count(DISTINCT p.ingest_seq) AS n FROM predictions AS p JOIN "
                "drift_snapshots AS s ON p.ingest_seq BETWEEN s.ingest_seq_from "
                "AND s.ingest_seq_to")["n"][0]
            upto = int(store.query_frame(
                "SELECT count(*) AS n FROM predictions WHERE ingest_seq <= ?",
                [previous_to])["n"][0])
            escaped = upto - int(covered)
            after_last = int(store.query_frame(
                "SELECT count(*) AS n FROM predictions WHERE source = 'api' AND ingest_seq > ?",
                [previous_to])["n"][0])
            registry = {k: v for k, v in services.registry.aliases().items()
                        if k in ("champion", "previous")}
            from_audit: dict[str, int] = {}
            for record in services.audit_records():
                aliases = record.details.get("aliases")
                if isinstance(aliases, dict):
                    from_audit = {k: int(v) for k, v in aliases.items()
                                  if k in ("champion", "previous")}
            ledger = store.query_frame("SELECT name FROM spool_segments")["name"]
            monitor_checks = store.query_frame(
                "SELECT holder, finished_at FROM job_runs WHERE job = 'monitor' "
                "AND finished_at IS NOT NULL ORDER BY finished_at")
            verified = self.cli("audit", "verify", "--json")
            audit_intact = verified.returncode == 0 and bool(json.loads(verified.stdout).get(
                "ok", False))
        finally:
            services.close()
        health = sorted(self.health_ms)
        rss = self.rss_report(monitor_checks)
        growth = {key: r["growth"] for key, r in rss.items()}
        origin = min(self.ready.values())
        missing_at = sorted(round(t - origin, 1) for i, t in zip(self.acked, self.acked_at,
                                                                    strict=True)
                            if i not in counts)
        return {
            "benchmark": "soak", "duration_seconds": self.duration,
            "acknowledged": len(acked),
            "acknowledged_missing_at": missing_at[:50],
            "spool_segments_unledgered": unledgered_segments(str(n) for n in ledger),
            "acknowledged_missing": len(acked - set(counts)),
            "acknowledged_duplicated": sum(1 for i in acked if counts.get(i, 0) > 1),
            "logged_not_acknowledged": len(api_logged - acked),
            "windows": len(snapshots), "windows_overlapping": overlapping,
            "predictions_escaped": escaped,
            "acknowledged_after_last_window": after_last,
            "aliases": registry, "aliases_from_audit": from_audit,
            "aliases_match_audit": registry == from_audit,
            "audit_intact": audit_intact,
            "health_requests": len(health), "health_failed": self.health_failed,
            "health_ms_p50": round(statistics.median(health), 1) if health else None,
            "health_ms_p99": round(health[int(len(health) * 0.99) - 1], 1) if health else None,
            "health_ms_max": round(health[-1], 1) if health else None,
            "rss_mib": rss,
            "rss_growth_mib": growth,
            "rss_growth_max_mib": max(growth.values()) if growth else None,
            "rss_peak_growth_max_mib": max((round(r["peak"] - r["baseline"], 1)
                                            for r in rss.values()), default=None),
            "rss_growth_from_ready_max_mib": max((round(r["end"] - r["ready"], 1)
                                                  for r in rss.values()), default=None),
            "events": self.events,
        }


def unledgered_segments(names: Iterable[str]) -> dict[str, list[int]]:
    """Per writer (a segment name's token), the sequence numbers below its highest ingested
    segment that ``spool_segments`` does not list: segments whose rows never landed (target
    none; a killed writer's unfinished last segment is above its highest and not counted)."""
    numbers: dict[str, set[int]] = {}
    for name in names:
        token, _, seq = name.removesuffix(".jsonl").rpartition("-")
        if seq.isdigit():
            numbers.setdefault(token, set()).add(int(seq))
    return {token: sorted(set(range(1, max(seqs) + 1)) - seqs)
            for token, seqs in numbers.items() if len(seqs) < max(seqs)}


def prepare(home: Path, env: dict[str, str]) -> None:
    """A trained baseline on a fresh home (the dataset from SPAMOPS_DATASET_URL)."""
    for args in (("setup-database",), ("train",)):
        result = subprocess.run([SPAMOPS, *args], env={**env, "SPAMOPS_HOME": str(home)},
                                capture_output=True, text=True, timeout=900, check=False)
        if result.returncode:
            raise SystemExit(f"spamops {args[0]} failed: {result.stderr.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0,
                        help="Seconds of concurrent activity (default 600).")
    parser.add_argument("--clients", type=int, default=4, help="/predict client threads.")
    parser.add_argument("--rate", type=float, default=60.0,
                        help="/predict requests per second, all clients together.")
    parser.add_argument("--home", type=Path, help="Data home to use (default: a fresh one).")
    parser.add_argument("--keep", action="store_true", help="Keep the data home afterwards.")
    parser.add_argument("--trace", type=Path,
                        help="Write the RSS samples and the scenario's timeline (seconds "
                             "from the start) to this JSON file, to see when memory grew.")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="spamops-soak-")) / "home"
    if not (home / "mlflow.db").exists():
        prepare(home, dict(os.environ))
    soak = Soak(home, args.duration, args.clients, args.rate)
    try:
        soak.run()
        print(json.dumps(soak.report(), sort_keys=True))
        if args.trace:
            soak.write_trace(args.trace)
    finally:
        soak.terminate_all()
        if not args.keep and args.home is None:
            shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
