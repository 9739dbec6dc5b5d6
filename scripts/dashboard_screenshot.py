"""Regenerate the README's dashboard screenshot (``docs/images/dashboard.png``) from a real run.

Runs ``spamops demo --until DEMO_UNTIL`` on a fresh temporary home (or uses ``--home``),
serves it with ``spamops dashboard`` on a free port, waits for Streamlit's health check, and
drives headless Chromium (Debian's ``chromium`` package: ``apt-get install -y chromium``;
browser builds downloaded by test tools do not work here) over the DevTools protocol: it
waits until Streamlit has run the page's script and drawn the metric cards, then captures
the window as a PNG. The dashboard is
then stopped with SIGTERM, which stops its server too.

Usage: ``python scripts/dashboard_screenshot.py [--home DIR] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_examples import DEMO_UNTIL, REPO, _env, spamops

OUT = REPO / "docs" / "images" / "dashboard.png"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


READY = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && document.querySelectorAll('[data-testid="stMetric"]').length > 0
    && document.querySelectorAll('[data-testid="stSkeleton"]').length === 0;
})()"""
"""True once Streamlit has finished the page's script and drawn the metric cards."""


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's WebSocket."""

    def __init__(self, websocket: Any) -> None:
        self._ws = websocket
        self._next = 0

    def call(self, method: str, **params: object) -> dict[str, Any]:
        """Send one command and return its result."""
        self._next += 1
        self._ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=120))
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.call("Runtime.evaluate", expression=expression,
                         returnByValue=True).get("result", {}).get("value")


@contextmanager
def dashboard_page(url: str, *, width: int = 1400, height: int = 1660,
                   timeout: float = 300) -> Iterator[DevTools]:
    """Headless Chromium showing ``url`` once ``READY`` holds; stopped on exit."""
    from websockets.sync.client import connect

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="spamops-chromium-",
                                     ignore_cleanup_errors=True) as profile:
        chromium = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with connect(_page_socket(port), max_size=None, open_timeout=30) as websocket:
                tools = DevTools(websocket)
                tools.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                           deviceScaleFactor=1, mobile=False)
                tools.call("Page.navigate", url=url)
                deadline = time.monotonic() + timeout
                while tools.evaluate(READY) is not True:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the dashboard did not finish drawing within "
                                         f"{timeout:.0f} s")
                    time.sleep(1)
                yield tools
        finally:
            chromium.terminate()
            try:
                chromium.wait(timeout=20)
            except subprocess.TimeoutExpired:
                chromium.kill()


def _page_socket(port: int) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            pages = [p for p in httpx.get(f"http://127.0.0.1:{port}/json/list",
                                          timeout=2).json() if p.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("headless Chromium did not start")


@contextmanager
def serving_dashboard(home: Path) -> Iterator[str]:
    """``spamops dashboard`` on a free port of ``home``, healthy; yields its URL."""
    port = _free_port()
    dashboard = subprocess.Popen(
        [sys.executable, "-c", "from engine.cli import main; main()", "dashboard", "--port",
         str(port)], env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            if dashboard.poll() is not None:
                raise SystemExit(f"spamops dashboard exited with {dashboard.returncode}")
            time.sleep(0.5)
        else:
            raise SystemExit("the dashboard did not answer within 180 s")
        yield f"http://127.0.0.1:{port}/"
    finally:
        dashboard.send_signal(signal.SIGTERM)
        try:
            dashboard.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dashboard.kill()


def screenshot(home: Path, out: Path, *, width: int, height: int, timeout: float) -> None:
    """Serve ``home`` with ``spamops dashboard`` and render it into ``out`` with Chromium."""
    with serving_dashboard(home) as url, dashboard_page(url, width=width, height=height,
                                                        timeout=timeout) as page:
        time.sleep(3)  # plotly animates its first draw
        shot = page.call("Page.captureScreenshot", format="png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(str(shot["data"])))
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


def main(argv: list[str] | None = None) -> int:
    """Make the demo home (unless given) and take the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None,
                        help="a populated data home (default: a fresh demo run)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1660)
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds to wait for the page to finish drawing")
    args = parser.parse_args(argv)
    workdir = None
    home = args.home
    if home is None:
        workdir = Path(tempfile.mkdtemp(prefix="spamops-screenshot-"))
        home = workdir / "home"
        spamops(home, "demo", "--until", DEMO_UNTIL)
    try:
        screenshot(home.resolve(), args.out, width=args.width, height=args.height,
                   timeout=args.timeout)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.exit(main())
