"""The API while another process holds the DuckDB file (issue 14, item 2): a real
``spamops serve`` and a real second process holding the database read-write. Nothing on the
event loop waits for the database: ``/openapi.json`` and ``/health`` answer at once (health
degraded), ``/predict`` keeps answering into the spool, and every acknowledged prediction is
in the history once the file is free again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.config import load_settings
from engine.services import Services
from tests.server.conftest import KEY
from tests.server.test_live_server import LiveServer, start_server

pytestmark = pytest.mark.slow

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SELECT count(*) FROM predictions").fetchone()
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


class Holder:
    """A process that holds the history file read-write for ``seconds``."""

    def __init__(self, home: Path, seconds: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(home / "spamops.duckdb"), str(seconds)],
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "holding"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def timed_get(url: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = httpx.get(url, timeout=30)
    return time.perf_counter() - started, response


def logged_ids(home: Path) -> list[str]:
    services = Services(load_settings(home=home))
    try:
        frame = services.store.query_frame("SELECT id FROM predictions")
        return [str(i) for i in frame["id"]]
    finally:
        services.close()


@pytest.fixture
def served(trained_home: Path) -> Iterator[LiveServer]:
    server = start_server(trained_home)
    yield server
    server.stop()


def predict_while_held(server: LiveServer, n: int) -> tuple[list[str], float, float, float]:
    """Post ``n`` predictions, timing /openapi.json and /health between them."""
    ids: list[str] = []
    slowest = {"openapi": 0.0, "health": 0.0, "predict": 0.0}
    with httpx.Client(base_url=server.url, timeout=30, headers=KEY) as client:
        for i in range(n):
            started = time.perf_counter()
            response = client.post("/predict", json={"text": f"see you at {i} tonight?"})
            slowest["predict"] = max(slowest["predict"], time.perf_counter() - started)
            assert response.status_code == 200, response.text
            ids.append(response.json()["prediction_id"])
            if i % 5 == 0:
                took, openapi = timed_get(f"{server.url}/openapi.json")
                assert openapi.status_code == 200
                slowest["openapi"] = max(slowest["openapi"], took)
                took, health = timed_get(f"{server.url}/health")
                assert health.status_code == 200, health.text
                slowest["health"] = max(slowest["health"], took)
    return ids, slowest["openapi"], slowest["health"], slowest["predict"]


def test_a_busy_database_never_delays_the_api(served: LiveServer, trained_home: Path) -> None:
    holder = Holder(trained_home, seconds=30)
    try:
        ids, openapi, health_took, predict = predict_while_held(served, 40)
        # The store is probed every 2 s off the loop: within ~2.5 s health says busy.
        deadline = time.monotonic() + 5
        while True:
            took, response = timed_get(f"{served.url}/health")
            health_took = max(health_took, took)
            health = response.json()
            if health["status"] == "degraded" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        holder.stop()
    assert openapi < 0.5 and health_took < 0.5 and predict < 0.5, (openapi, health_took, predict)
    assert health["status"] == "degraded" and health["model_version"] == 1
    assert health["store_reachable"] is False
    assert any("busy" in p or "not open" in p for p in health["problems"]), health["problems"]
    served.stop()
    logged = logged_ids(trained_home)
    assert sorted(logged) == sorted(ids)  # every acknowledged prediction, exactly once


def test_the_api_starts_and_serves_while_another_process_holds_the_database(
        trained_home: Path) -> None:
    holder = Holder(trained_home, seconds=300)  # stopped below, once the API has served
    server: LiveServer | None = None
    try:
        server = start_server(trained_home)  # healthy (a champion serves) while held
        ids, openapi, health_took, predict = predict_while_held(server, 20)
        assert openapi < 0.5 and health_took < 0.5 and predict < 0.5, (openapi, health_took,
                                                                       predict)
        assert httpx.get(f"{server.url}/health", timeout=30).json()["status"] == "degraded"
        holder.stop()  # the file is free: the store opens in the background
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.url}/health", timeout=30).json()["status"] != "ok":
            assert time.monotonic() < deadline, "the store never opened after the holder left"
            time.sleep(0.2)
    finally:
        holder.stop()
        if server is not None:
            server.stop()
    assert sorted(logged_ids(trained_home)) == sorted(ids)
    assert os.listdir(trained_home / "spool") == []
