"""Benchmark of the web dashboard; prints exactly one JSON line.

Builds a temporary data home with a trained champion and, through the Store API, 1,000,000
logged predictions over 90 days (20% with a late true label), 1,000 drift snapshots, 100
retraining events with comparisons and 100 decisions. Then measures the time from request to
the last chart rendered:

- ``apptest``: Streamlit's own script run (``AppTest.run``) in fresh interpreters:
  ``first_after_warm_up`` (the first run after ``web_dashboard.serve``'s warm-up, as in the
  dashboard server: every read, nothing cached), ``cold`` (first run in a process nobody
  warmed: imports, the registry's MLflow start-up, every read), ``cached`` (a rerun within
  the refresh period: cache hits), ``refresh`` (caches cleared: every read again, as at each
  auto-refresh) and ``all_time`` (the range switched to "All time": the daily aggregates run
  over all 1,000,000 predictions). Target < 3 s, goal < 1 s.
- ``browser`` (when ``chromium`` is installed): the real server (``spamops dashboard``'s
  command line: the ``web_dashboard.serve`` launcher, which warms the process before it
  answers) and headless Chromium driven over the DevTools protocol. Each load is timed from
  ``Page.navigate`` until the three plotly charts have drawn their SVG and Streamlit's
  "running" indicator is gone: ``first_load`` (the server's first session: empty data caches,
  every read done by this load), ``second_load`` (a new session within the refresh period).
  ``server_ready`` is the time until ``/_stcore/health`` answers (the warm-up included).
  ``bare_streamlit_first_load`` and ``bare_streamlit_second_load`` are the floor: a bare
  Streamlit page with three tiny plotly charts, loaded the same way (a first load in a fresh
  browser profile also pays for compiling Streamlit's and plotly's JavaScript).

Usage: ``python scripts/benchmarks/dashboard.py [--predictions N] [--keep DIR [--reuse]]``;
``--reuse`` measures the home an earlier ``--keep`` run built instead of building it again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

APP = REPO / "web_dashboard" / "app.py"
CHARTS = 3
"""Plotly charts on a populated page: performance, drift, retraining."""

_CHART_STATE_JS = """(() => {
  const drawn = [...document.querySelectorAll('.js-plotly-plot')]
      .filter(el => el.querySelector('.main-svg')).length;
  const running = !!document.querySelector('[data-testid="stStatusWidget"]');
  const failed = document.querySelectorAll('[data-testid="stException"]').length;
  return JSON.stringify({drawn, running, failed});
})()"""


# Data ------------------------------------------------------------------------------------
def build_home(home: Path, predictions: int, snapshots: int, retrainings: int) -> float:
    """Train a champion and fill the store through its API; returns the seconds it took."""
    from engine.config import load_settings
    from engine.records import (
        Decision,
        DriftSnapshot,
        FeedbackRecord,
        PatternCount,
        PredictionRecord,
        RetrainingEvent,
    )
    from engine.services import Services

    started = time.perf_counter()
    dataset = os.environ.get("SPAMOPS_DATASET_URL") or str(
        REPO.parent / "shared" / "data" / "sms+spam+collection.zip")
    services = Services(load_settings(home=home, dataset_url=dataset))
    services.train(trigger="benchmark")
    texts = services.split().test_texts
    store = services.store
    rng = random.Random(7)
    end = datetime.utcnow().replace(microsecond=0)
    start = end - timedelta(days=90)
    step = (end - start) / predictions
    batch = 100_000
    for first in range(0, predictions, batch):
        chunk, feedback = [], []
        for i in range(first, min(first + batch, predictions)):
            spam = rng.random() < 0.15
            record = PredictionRecord(
                id=uuid.uuid4().hex, ts=start + step * i, text=texts[i % len(texts)],
                model_version=1, label="spam" if spam else "ham",
                spam_probability=0.9 if spam else 0.1, latency_ms=0.5, source="benchmark")
            chunk.append(record)
            if rng.random() < 0.2:
                wrong = rng.random() < 0.04
                feedback.append(FeedbackRecord(record.id, record.ts + timedelta(hours=6),
                                               ("ham" if spam else "spam") if wrong
                                               else record.label, "benchmark"))
        store.log_predictions(chunk)
        store.flush()
        store.add_feedback_many(feedback)
    snap_step = (end - start) / snapshots
    snapshot_ids = []
    for k in range(snapshots):
        drifted = rng.random() < 0.1
        score = rng.uniform(0.2, 0.9) if drifted else rng.uniform(0.0, 0.12)
        patterns = tuple(PatternCount(term, rng.randint(5, 60), rng.uniform(0.02, 0.2),
                                      rng.uniform(0, 0.002))
                         for term in ("refund", "parcel", "crypto", "verify")) if drifted else ()
        snapshot = DriftSnapshot(
            id=uuid.uuid4().hex, ts=start + snap_step * (k + 1), model_version=1, n=500,
            window_start=None, window_end=None, vocabulary_drift=rng.uniform(0, 0.3),
            tfidf_drift=rng.uniform(0, 0.3), prediction_drift=rng.uniform(0, 0.05),
            prediction_p_value=rng.random(), drift_score=score, p_value=1 - score,
            threshold=0.15, drift_detected=drifted, new_patterns=patterns,
            recommendation="retrain" if drifted else "none", spam_rate=0.15,
            source="benchmark")
        store.save_snapshot(snapshot)
        snapshot_ids.append((snapshot.id, snapshot.ts))
    for k in range(retrainings):
        snapshot_id, ts = snapshot_ids[(k * len(snapshot_ids)) // retrainings]
        decision_id = uuid.uuid4().hex
        estimate = k % 2 == 0
        store.save_decision(Decision(
            id=decision_id, ts=ts, trigger="drift", decision="RETRAIN",
            reasons=("Drift score above the 0.15 threshold.",), window_size=500,
            accuracy=rng.uniform(0.9, 0.99), accuracy_is_estimate=estimate,
            accuracy_low=None, accuracy_high=None, n_labels=0 if estimate else 120,
            drift_score=0.5, thresholds={"drift": 0.15}, champion_version=1,
            snapshot_id=snapshot_id, outcome="kept v1"))
        comparison = {"champion_version": 1, "challenger_version": k + 2, "sets": [
            {"name": name, "n": n, "accuracy_difference": 0.01, "mcnemar_b": 3,
             "mcnemar_c": 5, "mcnemar_p_value": 0.72, "bootstrap_low": -0.01,
             "bootstrap_high": 0.03,
             "champion": {"version": 1, "metrics": {"accuracy": 0.97, "f1": 0.9}},
             "challenger": {"version": k + 2, "metrics": {"accuracy": 0.98, "f1": 0.91}}}
            for name, n in (("test_split", 1032), ("recent_feedback", 120))]}
        store.save_retraining(RetrainingEvent(
            id=uuid.uuid4().hex, started_at=ts + timedelta(seconds=5), trigger="drift",
            status="completed", champion_version=1,
            finished_at=ts + timedelta(seconds=40), challenger_version=k + 2,
            deployment="KEEP", improvement=0.01,
            reasoning="Accuracy improves by +1.0 point, not more than 1 point: champion stays.",
            comparison=comparison, decision_id=decision_id))
    services.close()
    return time.perf_counter() - started


def check_home(home: Path, predictions: int, snapshots: int, retrainings: int) -> None:
    """Exit unless ``home`` holds what ``build_home`` would have built (for ``--reuse``)."""
    from engine.config import load_settings
    from engine.services import Services

    services = Services(load_settings(home=home), read_only=True)
    try:
        found = ((services.overview().predictions_total,
                  len(services.drift_history(limit=snapshots + 1)),
                  len(services.retraining_history(limit=retrainings + 1)))
                 if services.has_history() else (0, 0, 0))
    finally:
        services.close()
    if found != (predictions, snapshots, retrainings):
        sys.exit(f"--reuse: {home} holds {found} (predictions, snapshots, retrainings), "
                 f"not {(predictions, snapshots, retrainings)}: run once without --reuse")


# Streamlit's own run time --------------------------------------------------------------------
def probe_apptest(home: Path) -> dict[str, Any]:
    """Run in a fresh interpreter (see ``measure_apptest``): AppTest timings."""
    os.environ["SPAMOPS_HOME"] = str(home)
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    if os.environ.get("SPAMOPS_BENCH_WARM") == "1":  # what web_dashboard.serve does first
        from web_dashboard.serve import warm

        warm()
        at = AppTest.from_file(str(APP), default_timeout=600)
        began = time.perf_counter()
        at.run()
        assert not at.exception and len(at.get("plotly_chart")) == CHARTS
        return {"first_after_warm_up": round(time.perf_counter() - began, 3)}

    def timed(run: Any) -> float:
        began = time.perf_counter()
        run()
        assert not at.exception, at.exception
        assert len(at.get("plotly_chart")) == CHARTS, len(at.get("plotly_chart"))
        return round(time.perf_counter() - began, 3)

    at = AppTest.from_file(str(APP), default_timeout=600)
    result = {"cold": timed(at.run), "cached": timed(at.run)}
    st.cache_data.clear()
    result["refresh"] = timed(at.run)
    at.selectbox(key="time_range").set_value("All time")
    result["all_time"] = timed(at.run)
    return result


def measure_apptest(home: Path) -> dict[str, Any]:
    """AppTest timings from fresh interpreters, so no import is already paid for: one as the
    dashboard server runs (warmed up first), one without any warm-up."""
    result: dict[str, Any] = {}
    for warm in ("1", "0"):
        out = subprocess.run([sys.executable, __file__, "--probe-apptest", str(home)],
                             capture_output=True, text=True, check=True,
                             env=child_env(SPAMOPS_BENCH_WARM=warm)).stdout
        result.update(json.loads(out.strip().splitlines()[-1]))
    return result


# Headless Chromium -----------------------------------------------------------------------------
def child_env(**extra: str) -> dict[str, str]:
    """The measured processes' environment: like a normal install, bytecode is cached.

    ``PYTHONDONTWRITEBYTECODE`` (set in some sandboxes) makes every process recompile
    MLflow, SQLAlchemy and pandas from source, which adds seconds to each cold start that
    a ``pip install`` (which compiles bytecode) never pays.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "MLFLOW_DISABLE_TELEMETRY": "true", **extra}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chromium() -> str | None:
    """The Chromium binary, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--hide-scrollbars"]
"""Headless, private, no background traffic."""


def start_streamlit(command: list[str], env: dict[str, str],
                    port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start a Streamlit server; returns it once ``/_stcore/health`` answers, and that time."""
    began = time.perf_counter()
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=1) as response:
                if response.read() == b"ok":
                    return server, time.perf_counter() - began
        except OSError:
            if server.poll() is not None or time.perf_counter() - began > 60:
                stop_streamlit(server)
                raise RuntimeError(f"{command[2:4]} did not start") from None
            time.sleep(0.1)


def stop_streamlit(server: subprocess.Popen[bytes]) -> None:
    """Stop a server ``start_streamlit`` started (its whole process group)."""
    if server.poll() is None:
        os.killpg(server.pid, 15)
    server.wait(timeout=15)


def start_dashboard(home: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """The dashboard server as ``spamops dashboard`` runs it; returns it and its ready time."""
    from engine.cli.dashboard_cmd import PRIVATE_ENV, streamlit_command

    return start_streamlit(streamlit_command(port),
                           child_env(**PRIVATE_ENV, SPAMOPS_HOME=str(home)), port)


class Browser:
    """Headless Chromium driven over the DevTools protocol (one page)."""

    def __init__(self, binary: str, profile: Path, window: str = "1400,1800") -> None:
        from websockets.sync.client import connect

        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-port=0", f"--window-size={window}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().count("\n") >= 1):
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = active.read_text().splitlines()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
            page = next(t for t in json.loads(r.read()) if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, legacy=True)
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and wait for its answer (events are skipped)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                return dict(message.get("result", {}))

    def load(self, url: str, timeout: float = 120) -> float:
        """Seconds from navigation to the last chart drawn with the script run finished."""
        began = time.perf_counter()
        self.call("Page.navigate", url=url)
        while time.perf_counter() - began < timeout:
            value = self.call("Runtime.evaluate", expression=_CHART_STATE_JS)
            state = json.loads(value["result"]["value"])
            if state["failed"]:
                raise RuntimeError("the page shows an exception")
            if state["drawn"] >= CHARTS and not state["running"]:
                return time.perf_counter() - began
            time.sleep(0.02)
        raise RuntimeError("the charts did not render in time")

    def screenshot(self, path: Path) -> None:
        """Save the full page as PNG."""
        import base64

        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def close(self) -> None:
        """Close the connection and the browser."""
        self.ws.close()
        self.process.terminate()
        self.process.wait(timeout=10)


BARE_APP = """import plotly.graph_objects as go
import streamlit as st
for i in range(3):
    st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[i, 2, 1])), key=f"c{i}")
"""
"""The floor: a bare Streamlit page with three tiny plotly charts, loaded the same way."""


def measure_bare_page(binary: str) -> dict[str, float]:
    """First and second load of ``BARE_APP`` (what Streamlit and plotly.js cost by themselves)."""
    from engine.cli.dashboard_cmd import PRIVATE_ENV, streamlit_options

    folder = Path(tempfile.mkdtemp(prefix="spamops-bare-"))
    script = folder / "bare.py"
    script.write_text(BARE_APP)
    port = _free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), *streamlit_options(port)]
    server, _ready = start_streamlit(command, child_env(**PRIVATE_ENV), port)
    try:
        first, second = load_twice(binary, folder / "profile", port)
    finally:
        stop_streamlit(server)
        shutil.rmtree(folder, ignore_errors=True)
    return {"bare_streamlit_first_load": round(first, 3),
            "bare_streamlit_second_load": round(second, 3)}


def load_twice(binary: str, profile: Path, port: int,
               screenshot: Path | None = None) -> tuple[float, float]:
    """Two page loads in one fresh headless Chromium; optionally a screenshot after them."""
    browser = Browser(binary, profile)
    try:
        url = f"http://127.0.0.1:{port}/"
        first = browser.load(url)
        second = browser.load(url)
        if screenshot is not None:
            time.sleep(1.0)  # let plotly finish its transitions
            browser.screenshot(screenshot)
    finally:
        browser.close()
    return first, second


def measure_browser(home: Path, binary: str, screenshot: Path | None = None
                    ) -> dict[str, Any]:
    """Server start, then two page loads in headless Chromium (see the module docstring)."""
    port = _free_port()
    server, ready = start_dashboard(home, port)
    profile = Path(tempfile.mkdtemp(prefix="spamops-chromium-"))
    try:
        first, second = load_twice(binary, profile, port, screenshot)
    finally:
        stop_streamlit(server)
        shutil.rmtree(profile, ignore_errors=True)
    return {"server_ready": round(ready, 3), "first_load": round(first, 3),
            "second_load": round(second, 3),
            **measure_bare_page(binary)}


def main() -> None:
    """Build the home, measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--retrainings", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None,
                        help="Build the home here and keep it (default: a temporary one).")
    parser.add_argument("--reuse", action="store_true",
                        help="With --keep: measure the home already there (built by an earlier "
                             "--keep run with the same sizes) instead of building it again.")
    parser.add_argument("--screenshot", type=Path, default=None,
                        help="Measure the browser on this existing home only and save a PNG "
                             "(needs --keep pointing at a populated home).")
    parser.add_argument("--probe-apptest", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    if args.probe_apptest is not None:
        print(json.dumps(probe_apptest(args.probe_apptest)))
        return
    binary = chromium()
    if args.screenshot is not None:
        if binary is None or args.keep is None:
            sys.exit("--screenshot needs chromium and --keep HOME")
        print(json.dumps({"browser": measure_browser(args.keep, binary, args.screenshot)}))
        return
    scratch = None
    if args.keep is None:
        scratch = Path(tempfile.mkdtemp(prefix="spamops-bench-dashboard-"))
        home = scratch / "home"
    else:
        home = args.keep
    if args.reuse and args.keep is None:
        sys.exit("--reuse needs --keep HOME")
    try:
        build = (check_home(home, args.predictions, args.snapshots, args.retrainings)
                 if args.reuse else
                 round(build_home(home, args.predictions, args.snapshots, args.retrainings), 1))
        result: dict[str, Any] = {
            "benchmark": "dashboard", "predictions": args.predictions,
            "snapshots": args.snapshots, "retrainings": args.retrainings,
            "build_seconds": build, "home_reused": args.reuse,
            "apptest_seconds": measure_apptest(home),
            "browser_seconds": (measure_browser(home, binary) if binary else None),
            "browser_measured": ("Page.navigate until 3 plotly charts drew their SVG and "
                                 "the Streamlit status widget was gone (CDP, headless "
                                 "Chromium)") if binary else "chromium not installed",
            "target_seconds": 3.0, "goal_seconds": 1.0, "cpus": os.cpu_count(),
        }
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
