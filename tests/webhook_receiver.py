"""A real HTTP webhook receiver on loopback for the notification tests.

It answers 503 to its first ``fail_first`` requests and while ``down`` (or holds the first
request open until ``release()`` with ``hang_first``), else 200; it records every request it
received, checks the HMAC signature when given a secret, and de-duplicates by ``event_id`` as
a real receiver would.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.notify.payloads import SIGNATURE_HEADER, verify


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, str]
    answered: int

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


class LoopbackReceiver:
    def __init__(self, *, fail_first: int = 0, hang_first: bool = False,
                 secret: str | None = None) -> None:
        self.fail_first = fail_first
        self.hang_first = hang_first
        self.secret = secret
        self.down = False
        """While true, every request is answered 503 (an outage)."""
        self.received: list[Received] = []
        self.arrived = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    n = len(receiver.received)
                    hang = receiver.hang_first and n == 0
                    status = 503 if n < receiver.fail_first or receiver.down else 200
                    receiver.received.append(Received(body, dict(self.headers), status))
                receiver.arrived.set()
                if hang:
                    receiver._release.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def __enter__(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        """Let a held first request be answered."""
        self._release.set()

    def accepted(self) -> list[Received]:
        """Requests answered 200."""
        with self._lock:
            return [r for r in self.received if r.answered == 200]

    def unique_events(self) -> dict[str, dict[str, Any]]:
        """Accepted bodies by event_id (what a receiver keeps after de-duplication)."""
        found: dict[str, dict[str, Any]] = {}
        for request in self.accepted():
            body = request.json()
            found.setdefault(body.get("event_id") or request.headers["X-Spamops-Event-Id"],
                             body)
        return found

    def all_signed(self) -> bool:
        """Every request carried a valid signature of its exact body."""
        assert self.secret is not None
        with self._lock:
            return all(verify(r.body, self.secret, r.headers.get(SIGNATURE_HEADER))
                       for r in self.received)

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())
