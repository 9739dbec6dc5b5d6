"""``server.max_body_bytes`` on a real ``spamops serve``: a body over the limit is answered 413
before it is read or parsed, whether it declares its length or arrives chunked."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server.conftest import API_KEY, KEY
from tests.server.test_live_server import LiveServer, start_server

pytestmark = pytest.mark.slow

LIMIT = 100_000


@pytest.fixture
def limited(trained_home: Path) -> Iterator[LiveServer]:
    server = start_server(trained_home, SPAMOPS_SERVER__MAX_BODY_BYTES=str(LIMIT))
    yield server
    server.stop()


def _raw(url: str, head: bytes, chunks: list[bytes]) -> tuple[int, bytes, float]:
    """Send ``head`` then each chunk on one socket; the status, body and seconds taken."""
    parts = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head)
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed: read what it said
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    elapsed = time.monotonic() - started
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), body, elapsed


def _head(extra: str) -> bytes:
    return (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(
        limited: LiveServer) -> None:
    # 20 MB announced, only a few bytes sent: the answer comes at once, not after a read.
    status, body, elapsed = _raw(limited.url, _head("Content-Length: 20000000\r\n"),
                                 [b'{"text": "'])
    assert status == 413 and elapsed < 10
    detail = json.loads(body)["detail"]
    assert detail == f"the request body is larger than {LIMIT} bytes (server.max_body_bytes)"


def test_a_chunked_body_is_counted_and_refused_once_it_passes_the_limit(
        limited: LiveServer) -> None:
    piece = b"a" * 20_000
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    # 1,000 chunks (20 MB) would follow: the server stops after the limit.
    status, body, _ = _raw(limited.url, _head("Transfer-Encoding: chunked\r\n"),
                           [b'6\r\n{"text\r\n', *([chunk] * 1000)])
    assert status == 413 and "server.max_body_bytes" in json.loads(body)["detail"]


def test_bodies_within_the_limit_are_served_chunked_or_not(limited: LiveServer) -> None:
    text = "Free entry! Text WIN to 80086 now"
    with httpx.Client(base_url=limited.url, headers=KEY, timeout=30) as http:
        assert http.post("/predict", json={"text": text}).json()["label"] == "spam"
        payload = json.dumps({"texts": [text] * 100}).encode()
        streamed = http.post("/predict/batch", content=iter([payload[:50], payload[50:]]),
                             headers={"content-type": "application/json"})
        assert streamed.status_code == 200 and streamed.json()["count"] == 100
        too_long = http.post("/predict", json={"text": "x" * 6000})  # under the byte limit
        assert too_long.status_code == 422
        big = http.post("/predict/batch", json={"texts": ["x" * 5000] * 30})
        assert big.status_code == 413
        assert 'status="413"' in http.get("/metrics").text  # counted like any answer


def test_the_default_limit_fits_the_largest_legal_batch_escaped() -> None:
    from engine.config import ServerSettings

    largest = json.dumps({"texts": ["\u00e9" * 5000] * 1000}).encode()  # \u00e9: 6 bytes
    assert len(largest) <= ServerSettings().max_body_bytes < 2 * len(largest)
