"""The pieces of the multi-host test (``test_multi_host.py``): spamops commands in process
groups of their own, a host (its ``serve`` and ``monitor``), client threads that keep every
answer, a watch on the scheduler's advisory lock in ``pg_locks``, and the monitors' own account
of when they held the scheduler."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import psycopg

from engine.scheduling.lock import ADVISORY_NAME
from engine.store.postgres import lock_id

SPAMOPS = Path(sys.executable).parent / "spamops"
API_KEY = "mH3v8QzL2wRt6YpN4sKd"
HEADERS = {"X-API-Key": API_KEY}
TEXTS = ("see you at 8 tonight", "WINNER! Claim your free prize now, text WIN to 80086",
         "can you pick up milk on the way home", "URGENT: your account is locked, call now")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(what: str, check: object, timeout: float, interval: float = 0.2) -> float:
    """Poll ``check()`` until it is truthy; the seconds it took. Fails naming ``what``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(httpx.HTTPError, psycopg.Error):
            if check():  # type: ignore[operator]
                return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g} s")


@dataclass
class Proc:
    """A spamops command in a process group of its own, its output in a file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen([str(SPAMOPS), *self.args], env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: the host dies, nothing runs its clean-up."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(30)

    def interrupt(self) -> None:
        """SIGINT to the group without waiting."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGINT)

    def stop(self) -> int | None:
        """SIGINT (Ctrl-C: the server flushes its spool), SIGKILL after 30 s."""
        if self.process is None:
            return None
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@dataclass
class Host:
    name: str
    home: Path
    env: dict[str, str]
    port: int
    serve: Proc
    monitor: Proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict[str, object]:
        body = httpx.get(f"{self.url}/health", timeout=5).json()
        assert isinstance(body, dict)
        return body


@dataclass
class Traffic:
    """Client threads posting ``/predict`` to the hosts until stopped; every answer kept."""

    hosts: list[Host]
    per_host: int = 2
    acknowledged: list[tuple[str, str, int]] = field(default_factory=list)
    """(host, prediction id, model version) of every 200."""
    failures: list[tuple[str, float, str]] = field(default_factory=list)
    """(host, monotonic time, what) of every request that got no 200."""
    served: list[tuple[str, float, int]] = field(default_factory=list)
    """(host, monotonic time, model version) of every 200."""
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for host in self.hosts:
            for n in range(self.per_host):
                thread = threading.Thread(target=self._send, args=(host, n), daemon=True)
                thread.start()
                self.threads.append(thread)

    def _send(self, host: Host, n: int) -> None:
        i = 0
        with httpx.Client(headers=HEADERS, timeout=30) as http:
            while not self.stop.is_set():
                i += 1
                try:
                    answer = http.post(f"{host.url}/predict",
                                       json={"text": f"{TEXTS[i % len(TEXTS)]} #{n}-{i}"})
                except httpx.HTTPError as exc:
                    self.failures.append((host.name, time.monotonic(), repr(exc)))
                    time.sleep(0.05)
                    continue
                now = time.monotonic()
                if answer.status_code != 200:
                    self.failures.append((host.name, now,
                                          f"{answer.status_code} {answer.text[:200]}"))
                    continue
                body = answer.json()
                self.acknowledged.append((host.name, body["prediction_id"],
                                          body["model_version"]))
                self.served.append((host.name, now, body["model_version"]))
                time.sleep(0.01)  # a steady stream, not a CPU hog on a shared machine

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def count(self, host: str, since: float) -> int:
        return sum(1 for name, t, _ in self.served if name == host and t >= since)


class LockWatch:
    """Samples, every 0.2 s, which sessions hold the scheduler's advisory lock in PostgreSQL
    (``pg_locks`` joined to ``pg_stat_activity``: the holder's ``application_name``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, list[str] | None]] = []
        """(monotonic time, holders' application names); None: PostgreSQL unreachable."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def holders(self) -> list[str]:
        """The sessions holding the scheduler's advisory lock (key ``lock_id("scheduler")``,
        split by PostgreSQL into classid/objid), named by their ``application_name``."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=2) as con:
            rows = con.execute(
                "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND "
                "((l.classid::bigint << 32) | l.objid::bigint) = %s",
                [lock_id(ADVISORY_NAME)]).fetchall()
        return [str(r[0]) for r in rows]

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.samples.append((time.monotonic(), self.holders()))
            except psycopg.Error:
                self.samples.append((time.monotonic(), None))

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._stop.set()
        self._thread.join(30)


def holder_pid(hosts: list[Host]) -> int | None:
    """The pid of the scheduler holder as the hosts' ``/health`` says (None: no holder)."""
    for host in hosts:
        holder = host.health().get("scheduler_holder")
        if isinstance(holder, dict):
            return int(holder["pid"])
    return None


STATE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] "
                   r"(Scheduler active|Scheduler lost|Scheduler stopped|Standby)", re.M)


def tenures(text: str, died: datetime | None) -> list[tuple[datetime, datetime]]:
    """When a monitor says it held the scheduler, from its own log lines (whole seconds, UTC):
    from "Scheduler active" to the next "lost"/"stopped"/"Standby", or to ``died``."""
    spans: list[tuple[datetime, datetime]] = []
    start: datetime | None = None
    for stamp, state in STATE.findall(text):
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
        if state == "Scheduler active":
            start = start or at
        elif start is not None:
            spans.append((start, at))
            start = None
    if start is not None:
        spans.append((start, died or datetime.max))
    return spans


def stored_ids(url: str) -> list[str]:
    with psycopg.connect(url) as con:
        return [str(r[0]) for r in con.execute("SELECT id FROM predictions").fetchall()]


