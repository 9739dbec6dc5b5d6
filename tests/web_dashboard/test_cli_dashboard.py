"""``spamops dashboard``: the command line it builds, and a real Streamlit server it starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from engine.cli.dashboard_cmd import LAUNCHER, streamlit_command
from tests.web_dashboard.conftest import home_files


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_command_runs_the_warming_launcher_headless_on_loopback_without_stats() -> None:
    argv = streamlit_command(8765)
    assert argv[:3] == [sys.executable, "-m", LAUNCHER] == [
        sys.executable, "-m", "web_dashboard.serve"]
    options = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert options["--server.headless"] == "true"
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == "8765"
    assert options["--browser.gatherUsageStats"] == "false"
    assert options["--server.fileWatcherType"] == "none"
    assert options["--client.toolbarMode"] == "viewer"  # no "Deploy" on a read-only page


@pytest.mark.slow
@pytest.mark.parametrize("home_fixture", ["data_home", "populated_home"])
def test_spamops_dashboard_warms_up_then_serves_health_on_the_chosen_port(
        home_fixture: str, request: pytest.FixtureRequest) -> None:
    home: Path = request.getfixturevalue(home_fixture)
    before = home_files(home)
    port = _free_port()
    spamops = Path(sys.executable).parent / "spamops"
    child = subprocess.Popen([str(spamops), "dashboard", "--port", str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env={**os.environ, "SPAMOPS_HOME": str(home)},
                             start_new_session=True)
    try:
        deadline, body = time.monotonic() + 60, b""
        while time.monotonic() < deadline and child.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                            timeout=2) as response:
                    body = response.read()
                    break
            except OSError:
                time.sleep(0.3)
        assert body == b"ok", child.stdout.read().decode() if child.poll() is not None else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.status == 200
            assert b"<html" in response.read().lower()
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    output = child.stdout.read().decode() if child.stdout else ""
    # The server answered only after the launcher had warmed it (see web_dashboard.serve).
    assert "spamops dashboard: warmed up" in output, output
    # The dashboard wrote nothing into the data home.
    assert home_files(home) == before
