"""Regenerate the README's dashboard screenshot (``docs/images/dashboard.png``) from a real run.

Runs ``spamops demo --until DEMO_UNTIL`` on a fresh temporary home (or uses ``--home``),
serves it with ``spamops dashboard`` on a free port, waits for Streamlit's health check, and
has headless Chromium (Debian's ``chromium`` package: ``apt-get install -y chromium``; browser
builds downloaded by test tools do not work here) render the page into a PNG. The dashboard is
then stopped with SIGTERM, which stops its server too.

Usage: ``python scripts/dashboard_screenshot.py [--home DIR] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_examples import DEMO_UNTIL, REPO, _env, spamops  # noqa: E402

OUT = REPO / "docs" / "images" / "dashboard.png"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def screenshot(home: Path, out: Path, *, width: int, height: int, budget_ms: int) -> None:
    """Serve ``home`` with ``spamops dashboard`` and render it into ``out`` with Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
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
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="spamops-chromium-") as profile:
            subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--no-first-run", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}",
                 f"--screenshot={out}", f"http://127.0.0.1:{port}/"],
                check=True, capture_output=True, timeout=300)
    finally:
        dashboard.send_signal(signal.SIGTERM)
        try:
            dashboard.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dashboard.kill()
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


def main(argv: list[str] | None = None) -> int:
    """Make the demo home (unless given) and take the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None,
                        help="a populated data home (default: a fresh demo run)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1660)
    parser.add_argument("--budget-ms", type=int, default=30000,
                        help="virtual time Chromium lets the page render for")
    args = parser.parse_args(argv)
    workdir = None
    home = args.home
    if home is None:
        workdir = Path(tempfile.mkdtemp(prefix="spamops-screenshot-"))
        home = workdir / "home"
        spamops(home, "demo", "--until", DEMO_UNTIL)
    try:
        screenshot(home.resolve(), args.out, width=args.width, height=args.height,
                   budget_ms=args.budget_ms)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.exit(main())
