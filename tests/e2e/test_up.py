"""`spamops up`: every service healthy, a killed child restarted, SIGINT leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_up_supervises_restarts_and_stops_cleanly(trained_home: Path) -> None:
    api, dash = _free_port(), _free_port()
    status = trained_home / "run" / "up.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from engine.cli import main; main()", "up",
         "--api-port", str(api), "--dashboard-port", str(dash)],
        env=dict(os.environ, SPAMOPS_HOME=str(trained_home)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen_pids: set[int] = set()
    try:
        _wait(lambda: httpx.get(f"http://127.0.0.1:{api}/health", timeout=2).status_code == 200,
              90, "the API")
        _wait(lambda: httpx.get(f"http://127.0.0.1:{dash}/_stcore/health",
                                timeout=2).status_code == 200, 90, "the dashboard")
        children = json.loads(status.read_text())["children"]
        seen_pids |= {c["pid"] for c in children.values()}
        assert all(_alive(c["pid"]) for c in children.values())
        old_api = children["api"]["pid"]
        os.killpg(old_api, signal.SIGKILL)
        _wait(lambda: json.loads(status.read_text())["children"]["api"]["pid"] != old_api,
              30, "the API restart")
        restarted = json.loads(status.read_text())["children"]["api"]
        assert restarted["restarts"] == 1
        seen_pids.add(restarted["pid"])
        _wait(lambda: httpx.get(f"http://127.0.0.1:{api}/health", timeout=2).status_code == 200,
              90, "the restarted API")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "api       | exited with code" in out
    assert "all services stopped" in out
    time.sleep(0.5)
    assert not [pid for pid in seen_pids if _alive(pid)]
    assert not status.exists()
