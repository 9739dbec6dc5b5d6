"""A real ``spamops serve`` process on 127.0.0.1: start-up, real requests, clean shutdown, a
champion promoted by another process while requests flow, and several worker processes.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import API_KEY, KEY

pytestmark = pytest.mark.slow

SPAMOPS = Path(sys.executable).parent / "spamops"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_server(home: Path, *args: str, **env: str) -> LiveServer:
    port = free_port()
    process = subprocess.Popen(
        [str(SPAMOPS), "serve", "--port", str(port), *args],
        env={**os.environ, "SPAMOPS_HOME": str(home), "SPAMOPS_API_KEY": API_KEY, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"spamops serve exited: {out}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return LiveServer(process, url)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("spamops serve did not become healthy in 90 s")


@pytest.fixture
def live(trained_home: Path) -> Iterator[LiveServer]:
    server = start_server(trained_home)
    yield server
    server.stop()


def test_real_server_answers_and_logs_every_prediction(live: LiveServer,
                                                       trained_home: Path) -> None:
    with httpx.Client(base_url=live.url, headers=KEY, timeout=30) as http:
        health = http.get("/health").json()
        assert health["status"] == "ok" and health["model_version"] == 1
        one = http.post("/predict", json={"text": "Free entry! Text WIN to 80086 now"}).json()
        batch = http.post("/predict/batch", json={"texts": ["hi", "see you"]}).json()
        assert one["label"] == "spam" and batch["count"] == 2
        assert http.post("/feedback", json={"prediction_id": one["prediction_id"],
                                            "label": "spam"}).status_code == 200
        bad = http.post("/predict", json={"text": "x" * 6000})
        assert bad.status_code == 422 and "5000" in bad.json()["detail"]
        assert "spamops_predictions_total" in http.get("/metrics").text
        assert http.post("/monitor/check", json={"retrain": False}).json()["trigger"] == "api"
        assert http.get("/openapi.json").json()["info"]["title"] == "spamops"
    # Ctrl-C: uvicorn shuts down gracefully (lifespan ingests the spool) and the server exits
    # 0, as every server does when stopped (README, "Exit codes").
    assert live.stop() == 0
    from engine.config import load_settings
    from engine.services import Services

    services = Services(load_settings(home=trained_home), read_only=True)
    assert services.sql("SELECT count(*) FROM predictions WHERE source = 'api'").rows == [(3,)]


def test_promotion_by_another_process_switches_serving_without_failures(
        trained_home: Path) -> None:
    from engine.config import load_settings
    from engine.services import Services

    operator = Services(load_settings(home=trained_home))
    new_version = operator.train(trigger="test").result.version
    operator.close()
    server = start_server(trained_home, SPAMOPS_SERVER__CHAMPION_REFRESH_SECONDS="0.5")
    versions: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=server.url, headers=KEY, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = http.post("/predict", json={"text": "are you coming tonight"})
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text}")
                    else:
                        versions.append(response.json()["model_version"])
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=send) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        operator = Services(load_settings(home=trained_home))
        operator.promote(new_version, actor="test")
        promoted_at = len(versions)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not versions or versions[-1] != new_version):
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        server.stop()
    assert failures == []
    assert versions[0] == 1 and versions[-1] == new_version
    assert 1 in versions[:promoted_at]
    # Once a request saw the new champion, later ones never went back to the old one.
    first_new = versions.index(new_version)
    assert set(versions[first_new + 8:]) == {new_version}


def test_several_workers_serve_log_and_count_together(trained_home: Path) -> None:
    server = start_server(trained_home, "--workers", "2")
    try:
        texts = [f"message {i}: are we still on for tonight?" for i in range(30)]
        texts += ["WINNER!! claim your free prize, call 09061701461 now"] * 10

        def post(text: str) -> dict[str, object]:
            # A new connection per request, so the kernel spreads them over both workers.
            with httpx.Client(base_url=server.url, headers=KEY, timeout=30) as http:
                response = http.post("/predict", json={"text": text})
                assert response.status_code == 200, response.text
                body: dict[str, object] = response.json()
                return body

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(post, texts))
        spam = sum(r["label"] == "spam" for r in results)
        assert spam == 10 and {r["model_version"] for r in results} == {1}
        exposition = httpx.get(f"{server.url}/metrics", timeout=30).text
        counted = {line.split("}")[0].split('"')[1]: float(line.rsplit(" ", 1)[1])
                   for line in exposition.splitlines()
                   if line.startswith("spamops_predictions_total{")}
        # Whichever worker answers the scrape reports every worker's predictions.
        assert counted == {"ham": 30.0, "spam": 10.0}
    finally:
        assert server.stop() in (0, 130)
    from engine.config import load_settings
    from engine.services import Services

    services = Services(load_settings(home=trained_home), read_only=True)
    logged = services.sql("SELECT id FROM predictions WHERE source = 'api'").rows
    assert sorted(row[0] for row in logged) == sorted(str(r["prediction_id"]) for r in results)
