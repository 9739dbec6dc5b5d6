"""API benchmark: prints exactly one JSON line.

Starts two real uvicorn processes on 127.0.0.1, one after the other, each given the same
load by ``wrk``, bounded in time: ``--concurrency`` connections for ``--seconds`` (about
20,000 requests or more at the default 15 s), after a 3 s warm-up. Requests/s is what
``wrk`` counted over the run's measured duration. (An earlier version stopped ``wrk``'s
threads after a request count; ``wrk`` still waits out ``-d``, so requests/s came out as
count / ``-d`` and under-reported a fast server.)

* ``spamops``: ``spamops serve --workers W`` on a data home with a champion; ``POST /predict``
  with everything on (key check, validation, prediction logging through the spool,
  Prometheus). W is ``--workers`` (default 1, as ``spamops serve`` runs by default).
* ``spamops_per_core``: the same with one worker per CPU core (``--workers`` = CPUs), for
  comparison. On a 2-core machine the load generator then competes with the server for the
  cores, which shows in the tail.
* ``bare``: a FastAPI app of a few lines, run by uvicorn with the same W workers, whose
  ``async def /predict`` calls the same champion pipeline's ``predict_proba`` (loaded once
  through ``Services.champion.get()``) with no spamops around it.

Reported per endpoint: requests/s, p50 and p99 latency (ms) at ``--concurrency`` connections
(saturating: latency there is mostly queueing), and p50/p99 at one connection (the cost of a
request that does not wait). ``throughput_ratio`` = spamops / bare. Targets: p99 < 20 ms,
ratio >= 0.8.

Usage: ``python scripts/benchmarks/api.py [--home DIR] [--concurrency 32] [--seconds 15]
[--workers W]``. Without ``--home`` a temporary home is created and trained (needs
``SPAMOPS_DATASET_URL`` or the bundled zip). Needs ``wrk`` (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SHARED_ZIP = REPO.parent / "shared" / "data" / "sms+spam+collection.zip"
TEXT = "Hey, are we still on for dinner tonight? Call me when you get this."
API_KEY = "bM4n7Qx2Lr9KpW6tZs8V"

LUA = r"""
wrk.method = "POST"
wrk.body = '{"text": "%(text)s"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%(key)s"
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %%d, "seconds": %%.3f, "errors": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"socket_errors": %%d}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
"""

BARE_APP = r'''
import sys
from fastapi import FastAPI
from pydantic import BaseModel
import uvicorn


class Body(BaseModel):
    text: str


def make() -> FastAPI:
    from engine.config import load_settings
    from engine.services import Services

    model = Services(load_settings()).champion.get()[1]  # the same champion, loaded once
    app = FastAPI()

    @app.post("/predict")
    async def predict(body: Body) -> dict:
        p = float(model.predict_proba([body.text])[0][1])
        return {"label": "spam" if p >= 0.5 else "ham", "spam_probability": p}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    uvicorn.run("bare_app:make", factory=True, host="127.0.0.1", port=int(sys.argv[1]),
                workers=int(sys.argv[2]), log_config=None, access_log=False)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def wrk(url: str, *, connections: int, seconds: float, script_dir: Path) -> dict[str, Any]:
    threads = min(2, connections)
    script = script_dir / "post.lua"
    script.write_text(LUA % {"text": TEXT, "key": API_KEY})
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
         "--timeout", "10s", "-s", str(script), f"{url}/predict"],
        capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("{"))
    raw = json.loads(line)
    return {"requests": raw["requests"], "errors": raw["errors"] + raw["socket_errors"],
            "rps": round(raw["requests"] / raw["seconds"], 1),
            "p50_ms": round(raw["p50_us"] / 1000, 2), "p99_ms": round(raw["p99_us"] / 1000, 2)}


def measure(url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    wrk(url, connections=args.concurrency, seconds=3, script_dir=tmp)  # warm-up
    loaded = wrk(url, connections=args.concurrency, seconds=args.seconds, script_dir=tmp)
    single = wrk(url, connections=1, seconds=args.seconds / 3, script_dir=tmp)
    return {**loaded, "p50_ms_c1": single["p50_ms"], "p99_ms_c1": single["p99_ms"],
            "rps_c1": single["rps"]}


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def prepare_home(tmp: Path) -> Path:
    from engine.config import load_settings
    from engine.services import Services

    home = tmp / "home"
    source = os.environ.get("SPAMOPS_DATASET_URL") or str(SHARED_ZIP)
    services = Services(load_settings(home=home, dataset_url=source))
    services.train(trigger="benchmark")
    services.close()
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1,
                        help="Worker processes of spamops and of the bare app.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory(prefix="spamops-api-bench-") as tmp_name:
        tmp = Path(tmp_name)
        home = args.home or prepare_home(tmp)
        env = {**os.environ, "SPAMOPS_HOME": str(home), "SPAMOPS_API_KEY": API_KEY}
        results: dict[str, Any] = {}
        spamops_bin = Path(sys.executable).parent / "spamops"
        bare_script = tmp / "bare_app.py"  # run from tmp, so "bare_app:make" imports it
        bare_script.write_text(BARE_APP)
        runs = (("bare", [sys.executable, str(bare_script)], [str(args.workers)]),
                ("spamops", [str(spamops_bin), "serve", "--port"], ["--workers",
                                                                    str(args.workers)]),
                ("spamops_per_core", [str(spamops_bin), "serve", "--port"],
                 ["--workers", str(os.cpu_count() or 1)]))
        for name, command, tail in runs:
            port = free_port()
            process = subprocess.Popen([*command, str(port), *tail], env=env, cwd=str(tmp),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                url = f"http://127.0.0.1:{port}"
                wait_healthy(url, process)
                results[name] = measure(url, args, tmp)
            finally:
                stop(process)
        spamops, bare = results["spamops"], results["bare"]
        ratio = spamops["rps"] / bare["rps"] if bare["rps"] else None
        print(json.dumps({
            "benchmark": "api", "endpoint": "POST /predict", "tool": "wrk",
            "concurrency": args.concurrency, "cpus": os.cpu_count(), "workers": args.workers,
            "spamops": spamops, "bare": bare, "spamops_per_core": results["spamops_per_core"],
            "throughput_ratio": None if ratio is None else round(ratio, 3),
            "targets": {"p99_ms": 20, "throughput_ratio": 0.8},
            "meets_p99_c1": spamops["p99_ms_c1"] < 20,
            "meets_p99_loaded": spamops["p99_ms"] < 20,
            "meets_ratio": ratio is not None and ratio >= 0.8,
        }))


if __name__ == "__main__":
    main()
