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

Several hosts (issue 16): ``--hosts N --store URL`` measures instead, in the same run,

* ``duckdb_1_host``: one ``spamops serve`` (``--workers`` W) on a DuckDB home;
* ``postgresql_N_hosts``: N ``spamops serve`` processes (W workers each), each with a data home
  of its own (its spool, logs, locks) and one history in PostgreSQL (``store.url``), sharing the
  data home key and the registry (the trained home's MLflow registry named by
  ``mlflow_tracking_uri``: the registry is read when a host starts and when it refreshes the
  champion, never per request, so a tracking server would not change the request path);
* ``postgresql_1_host``: the first of those hosts alone (the others idle), all the connections
  on it: what the PostgreSQL backend costs one host (measured before the N together).

All face the same clients: ``--concurrency`` connections in total, split evenly across the
hosts, one ``wrk`` per host running at the same time. requests/s is the hosts' sum; p50 and p99
are the worst host's (``wrk`` keeps no histogram to merge: an upper bound). Each set-up gets a
3 s warm-up, then ``--seconds`` of measurement; the PostgreSQL numbers include each host's
flush thread writing its predictions to PostgreSQL.

``--store auto-postgres`` starts a throw-away PostgreSQL of the machine's own binaries
(``tests/postgres.py``); ``--store postgresql://...`` uses that server and creates (then drops)
a database of its own there. Hosts, PostgreSQL and ``wrk`` all share this machine: with 2
cores, two hosts cannot be faster than one; the figure shows what the shared history costs.

Usage: ``python scripts/benchmarks/api.py [--home DIR] [--concurrency 32] [--seconds 15]
[--workers W] [--hosts N --store URL]``. Without ``--home`` a temporary home is created and
trained (needs ``SPAMOPS_DATASET_URL`` or the bundled zip). Needs ``wrk`` (``apt-get install
wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
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


def single_host(args: argparse.Namespace) -> dict[str, Any]:
    """The original comparison: spamops against a bare app, one host on DuckDB."""
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
        return {
            "benchmark": "api", "endpoint": "POST /predict", "tool": "wrk",
            "concurrency": args.concurrency, "cpus": os.cpu_count(), "workers": args.workers,
            "spamops": spamops, "bare": bare, "spamops_per_core": results["spamops_per_core"],
            "throughput_ratio": None if ratio is None else round(ratio, 3),
            "targets": {"p99_ms": 20, "throughput_ratio": 0.8},
            "meets_p99_c1": spamops["p99_ms_c1"] < 20,
            "meets_p99_loaded": spamops["p99_ms"] < 20,
            "meets_ratio": ratio is not None and ratio >= 0.8,
        }


@contextlib.contextmanager
def postgres_database(store: str) -> Iterator[str]:
    """A fresh database for the hosts' history: on a throw-away server (``auto-postgres``) or
    created on the server of ``store`` and dropped afterwards."""
    import psycopg

    server = None
    if store == "auto-postgres":
        from tests.postgres import PostgresServer, PostgresUnavailable

        try:
            server = PostgresServer()
            server.start()
        except PostgresUnavailable as exc:
            raise SystemExit(f"error: --store auto-postgres: {exc}") from None
        admin = server.url()
    elif store.startswith(("postgresql://", "postgres://")):
        admin = store
    else:
        raise SystemExit(f"error: --store {store!r}: expected postgresql://... or auto-postgres")
    dbname = f"spamops_api_bench_{os.getpid()}"
    try:
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as con:
                con.execute(f'CREATE DATABASE "{dbname}"')
        except psycopg.Error as exc:
            message = " ".join(str(exc).split())
            raise SystemExit(f"error: cannot create a database there: {message}") from None
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{dbname}"))
    finally:
        with contextlib.suppress(psycopg.Error), psycopg.connect(
                admin, autocommit=True, connect_timeout=10) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if server is not None:
            server.remove()


def measure_hosts(urls: list[str], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """``--concurrency`` connections split evenly across ``urls``, one ``wrk`` per host at
    once: the sum of requests/s, the worst host's latency percentiles."""
    share = max(1, args.concurrency // len(urls))

    def run_all(seconds: float) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = [{} for _ in urls]

        def one(i: int) -> None:
            host_dir = tmp / f"wrk-{i}"
            host_dir.mkdir(exist_ok=True)
            results[i] = wrk(urls[i], connections=share, seconds=seconds, script_dir=host_dir)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if any(not r for r in results):
            raise SystemExit("error: a wrk run failed")
        return results

    run_all(3)  # warm-up
    per_host = run_all(args.seconds)
    return {"hosts": len(urls), "connections_per_host": share,
            "rps": round(sum(r["rps"] for r in per_host), 1),
            "requests": sum(r["requests"] for r in per_host),
            "errors": sum(r["errors"] for r in per_host),
            "p50_ms": max(r["p50_ms"] for r in per_host),
            "p99_ms": max(r["p99_ms"] for r in per_host),
            "per_host": per_host}


def serve(home: Path, env: dict[str, str], workers: int,
          tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``spamops serve`` on ``home`` and a free loopback port, once healthy: (process, url)."""
    port = free_port()
    spamops_bin = Path(sys.executable).parent / "spamops"
    process = subprocess.Popen([str(spamops_bin), "serve", "--port", str(port), "--workers",
                                str(workers)], env={**env, "SPAMOPS_HOME": str(home)},
                               cwd=str(tmp), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
    except BaseException:
        stop(process)
        raise
    return process, url


def several_hosts(args: argparse.Namespace) -> dict[str, Any]:
    """One host on DuckDB against ``--hosts`` hosts on one PostgreSQL history."""
    from engine.clock import SystemClock
    from engine.config import load_settings
    from engine.store import Store

    name = f"postgresql_{args.hosts}_hosts"
    with tempfile.TemporaryDirectory(prefix="spamops-api-bench-") as tmp_name, \
            postgres_database(args.store) as database:
        tmp = Path(tmp_name)
        home = args.home or prepare_home(tmp)
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPAMOPS_")}
        env = {**base, "SPAMOPS_API_KEY": API_KEY}
        results: dict[str, Any] = {}

        process, url = serve(home, env, args.workers, tmp)
        try:
            results["duckdb_1_host"] = measure_hosts([url], args, tmp)
        finally:
            stop(process)

        # The hosts: homes of their own, the trained home's registry, one history, one key.
        registry = load_settings(home=home).tracking_uri
        homes = [tmp / f"host-{i + 1}" for i in range(args.hosts)]
        first = Store(homes[0] / "spamops.duckdb", homes[0] / "spool", clock=SystemClock(),
                      url=database)
        first.migrate()
        first.close()
        for other in homes[1:]:
            other.mkdir(parents=True)
            shutil.copy2(homes[0] / "spamops.key", other / "spamops.key")
        pg_env = {**env, "SPAMOPS_STORE__URL": database,
                  "SPAMOPS_MLFLOW_TRACKING_URI": registry}
        processes: list[subprocess.Popen[bytes]] = []
        try:
            urls = []
            for host in homes:
                process, url = serve(host, pg_env, args.workers, tmp)
                processes.append(process)
                urls.append(url)
            if args.hosts > 1:  # one PostgreSQL host alone: the backend's cost per host
                results["postgresql_1_host"] = measure_hosts(urls[:1], args, tmp)
            results[name] = measure_hosts(urls, args, tmp)
        finally:
            for process in processes:
                stop(process)  # SIGINT: each host flushes its spool on the way out
        stored = Store(homes[0] / "spamops.duckdb", homes[0] / "spool", clock=SystemClock(),
                       url=database, read_only=True)
        logged = stored.count_predictions()
        stored.close()

    single, multi = results["duckdb_1_host"], results[name]
    if logged < multi["requests"]:  # every answered request is logged (warm-up ones too)
        raise SystemExit(f"error: {multi['requests']} requests answered but only {logged} "
                         "predictions reached PostgreSQL")
    return {
        "benchmark": "api_hosts", "endpoint": "POST /predict", "tool": "wrk",
        "concurrency": args.concurrency, "cpus": os.cpu_count(), "workers": args.workers,
        "duckdb_1_host": single, **({"postgresql_1_host": results["postgresql_1_host"]}
                                    if "postgresql_1_host" in results else {}),
        name: multi,
        "rps_ratio": round(multi["rps"] / single["rps"], 3) if single["rps"] else None,
        "postgresql_predictions_stored": logged,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--concurrency", type=int, default=32,
                        help="Concurrent connections in total (split across --hosts).")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1,
                        help="Worker processes of spamops (each host) and of the bare app.")
    parser.add_argument("--hosts", type=int, default=1,
                        help="Serving hosts on one PostgreSQL history (needs --store), "
                             "measured against one host on DuckDB.")
    parser.add_argument("--store", default=None, metavar="URL",
                        help="postgresql://... (a database is created there) or "
                             "auto-postgres (a throw-away server).")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    if args.hosts < 1 or args.concurrency < args.hosts:
        sys.exit("error: --hosts must be >= 1 and --concurrency >= --hosts")
    if args.hosts > 1 and not args.store:
        sys.exit("error: --hosts N needs --store postgresql://... (or auto-postgres)")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    load_before = [round(x, 2) for x in os.getloadavg()]
    line = several_hosts(args) if args.store else single_host(args)
    line["load_average_1_5_15"] = {"before": load_before,
                                   "after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
