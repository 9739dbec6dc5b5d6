"""``/metrics`` scrape benchmark: prints exactly one JSON line.

Starts a real ``spamops serve`` (one worker) on 127.0.0.1 on a data home with history (a
trained champion, scored and labelled traffic, a monitoring check and its drift snapshot),
then scrapes ``GET /metrics`` and, as the same-run baseline, ``GET /health`` (answered from
state kept by background work, no store read), one request at a time over one keep-alive
connection, in interleaved blocks so both see the same machine load. Bounded: ``--rounds``
blocks of ``--block`` requests per endpoint (default 6 x 50).

Reported: p50/p99 latency (ms) of each endpoint, and store connections opened per scrape,
from the server's own ``spamops_store_connections_opened_total`` counter: its rise over the
scrapes, less the background opens (the store probe, every 2 s) measured at the same rate
over the ``/health`` blocks. Before one scrape read everything in one store session, a scrape
opened one connection per table it read (4).

Usage: ``python scripts/benchmarks/metrics_scrape.py [--home DIR] [--rounds 6] [--block 50]``.
Without ``--home`` a temporary home is created (needs ``SPAMOPS_DATASET_URL`` or the shared
zip).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SHARED_ZIP = REPO.parent / "shared" / "data" / "sms+spam+collection.zip"
COUNTER = "spamops_store_connections_opened_total"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_home(tmp: Path) -> Path:
    """A trained home with scored, labelled traffic and one monitoring check."""
    from engine.config import load_settings
    from engine.services import Services

    home = tmp / "home"
    source = os.environ.get("SPAMOPS_DATASET_URL") or str(SHARED_ZIP)
    services = Services(load_settings(home=home, dataset_url=source))
    services.train(trigger="benchmark")
    services.simulate(messages=600, drift=0.3, label_rate=0.5, seed=7)
    services.check_now(trigger="operator", retrain=False)
    services.close()
    return home


def wait_healthy(client: httpx.Client, process: subprocess.Popen[bytes],
                 timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"spamops serve exited with {process.returncode}")
        try:
            if client.get("/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("spamops serve did not become healthy")


def opened(client: httpx.Client) -> float:
    """The server's connection counter, read by one scrape (which counts its own)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(COUNTER + " "):
            return float(line.split()[1])
    raise RuntimeError(f"{COUNTER} not exported")


def timed(client: httpx.Client, path: str, n: int) -> list[float]:
    """Latencies (ms) of ``n`` sequential GETs of ``path``; every answer must be 200."""
    out = []
    for _ in range(n):
        began = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 2)


def run(url: str, rounds: int, block: int) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {"/metrics": [], "/health": []}
    background = metrics_rise = 0.0
    health_seconds = metrics_seconds = 0.0
    with httpx.Client(base_url=url, timeout=30) as client:
        timed(client, "/metrics", 10)  # warm-up
        timed(client, "/health", 10)
        for _ in range(rounds):
            start, began = opened(client), time.monotonic()
            latencies["/health"] += timed(client, "/health", block)
            health_seconds += time.monotonic() - began
            background += opened(client) - start - 1  # less the closing scrape's own
            start, began = opened(client), time.monotonic()
            latencies["/metrics"] += timed(client, "/metrics", block)
            metrics_seconds += time.monotonic() - began
            metrics_rise += opened(client) - start - 1
    rate = background / health_seconds if health_seconds else 0.0
    scrapes = rounds * block
    return {
        "scrapes": scrapes,
        "metrics_p50_ms": percentile(latencies["/metrics"], 50),
        "metrics_p99_ms": percentile(latencies["/metrics"], 99),
        "health_p50_ms": percentile(latencies["/health"], 50),
        "health_p99_ms": percentile(latencies["/health"], 99),
        "metrics_mean_ms": round(statistics.fmean(latencies["/metrics"]), 2),
        "connections_per_scrape": round((metrics_rise - rate * metrics_seconds) / scrapes, 3),
        "background_connections_per_second": round(rate, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--block", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    with tempfile.TemporaryDirectory(prefix="spamops-metrics-bench-") as tmp_name:
        tmp = Path(tmp_name)
        home = args.home or prepare_home(tmp)
        port = free_port()
        env = {**os.environ, "SPAMOPS_HOME": str(home)}
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "spamops"), "serve", "--port", str(port)],
            env=env, cwd=str(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url) as probe:
                wait_healthy(probe, process)
            result = run(url, args.rounds, args.block)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    print(json.dumps({"benchmark": "metrics_scrape", "endpoint": "GET /metrics",
                      "baseline": "GET /health", "cpus": os.cpu_count(), **result}))


if __name__ == "__main__":
    main()
