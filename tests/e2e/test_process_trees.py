"""Process trees (issue 18): children in their own process groups, signals forwarded, shutdown
that waits then escalates, nothing left holding a port. Real processes throughout."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from engine.supervisor import SUPERVISED_ENV, ServiceSpec, Supervisor, marked_processes

SPAMOPS = [sys.executable, "-c", "from engine.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _sockets_on(port: int) -> str:
    """What ``ss`` shows on ``port``, for a failure message."""
    ss = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, check=False).stdout
    return "; ".join(line for line in ss.splitlines() if f":{port} " in line) or "none"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def _healthy(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200


def _start_dashboard(home: Path, port: int) -> tuple[subprocess.Popen[str], int]:
    wrapper = subprocess.Popen([*SPAMOPS, "dashboard", "--port", str(port)],
                               env=dict(os.environ, SPAMOPS_HOME=str(home)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait(lambda: _healthy(port), 90, "the dashboard")
    (server,) = _children(wrapper.pid)
    assert os.getpgid(server) == server != os.getpgid(wrapper.pid)  # its own process group
    return wrapper, server


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_dashboard_leaves_no_process(trained_home: Path,
                                                 sig: signal.Signals) -> None:
    port = _free_port()
    wrapper, server = _start_dashboard(trained_home, port)
    try:
        wrapper.send_signal(sig)
        out, _ = wrapper.communicate(timeout=30)
    finally:
        for pid in (wrapper.pid, server):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert wrapper.returncode == 0, out
    _wait(lambda: not _alive(server), 5, "the Streamlit server to go")
    _wait(lambda: _port_free(port), 15, lambda: f"port {port} to be free ({_sockets_on(port)})")


@pytest.mark.slow
def test_a_killed_dashboard_wrapper_takes_its_server_with_it(trained_home: Path) -> None:
    port = _free_port()
    wrapper, server = _start_dashboard(trained_home, port)
    try:
        wrapper.kill()  # SIGKILL: it cannot forward anything; the kernel does (PDEATHSIG)
        wrapper.wait(timeout=10)
        _wait(lambda: not _alive(server), 10, "the orphaned server to die")
    finally:
        if _alive(server):
            os.kill(server, signal.SIGKILL)
    _wait(lambda: _port_free(port), 15, lambda: f"port {port} to be free ({_sockets_on(port)})")


GRANDCHILD = ("import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); "
              "s.listen(); time.sleep(600)")
LEAVES_A_GRANDCHILD = (
    "import subprocess, sys, time; "
    # start_new_session: escapes this process's group, as a careless child might
    "subprocess.Popen([sys.executable, '-c', {code!r}], start_new_session=True); "
    "time.sleep(600)")


def test_supervisor_kills_what_a_dead_child_left_holding_its_port(tmp_path: Path) -> None:
    port = _free_port()
    lines: list[str] = []
    code = LEAVES_A_GRANDCHILD.format(code=GRANDCHILD.format(port=port))
    spec = ServiceSpec("svc", [sys.executable, "-c", code])
    sut = Supervisor([spec], env=dict(os.environ), status_file=tmp_path / "up.json",
                     out=lines.append)
    sut.start()
    try:
        _wait(lambda: not _port_free(port), 30, "the grandchild to bind the port")
        mark = f"{os.getpid()}:svc"
        child = json.loads((tmp_path / "up.json").read_text())["children"]["svc"]["pid"]
        (grandchild,) = [p for p in marked_processes(mark) if p != child]
        assert os.getpgid(grandchild) != os.getpgid(child)
        os.kill(child, signal.SIGKILL)  # the child dies; its grandchild keeps the port
        _wait(lambda: (sut.poll(), not _alive(grandchild))[1], 10, "the leftover to be killed")
        assert _port_free(port)
        assert any(f"killed leftover process {grandchild}" in line for line in lines)
    finally:
        sut.stop()
    assert marked_processes(f"{os.getpid()}:svc") == []


@pytest.mark.slow
def test_up_frees_the_port_of_a_killed_dashboard_and_stops_clean(trained_home: Path) -> None:
    api, dash = _free_port(), _free_port()
    status = trained_home / "run" / "up.json"
    proc = subprocess.Popen(
        [*SPAMOPS, "up", "--api-port", str(api), "--dashboard-port", str(dash)],
        env=dict(os.environ, SPAMOPS_HOME=str(trained_home)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        _wait(lambda: _healthy(dash), 120, "the dashboard")
        old = json.loads(status.read_text())["children"]["dashboard"]["pid"]
        os.kill(old, signal.SIGKILL)  # the wrapper only: its server must not keep the port
        _wait(lambda: json.loads(status.read_text())["children"]["dashboard"]["pid"] != old,
              30, "the dashboard restart")
        _wait(lambda: _healthy(dash), 120, "the restarted dashboard")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
        reader.join(timeout=5)
    text = "".join(output)
    assert proc.returncode == 0, text
    assert "is not available" not in text  # Streamlit never found its port taken
    assert "all services stopped" in text
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _alive(int(p))
                 and _has_mark(int(p), f"{SUPERVISED_ENV}={proc.pid}:")]
    assert leftovers == []
    assert _port_free(api) and _port_free(dash)


def _has_mark(pid: int, prefix: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return any(v.startswith(prefix.encode()) for v in environ.read().split(b"\0"))
    except OSError:
        return False
