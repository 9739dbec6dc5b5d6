"""``spamops console --serve``: the console and the REST API in one process, one Services.

The API runs as a uvicorn task on the console's event loop; requests are made from a thread
(a synchronous call on the loop itself would deadlock it, STACK.md)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx

from engine.config import load_settings
from engine.services import Services
from tests.tui.conftest import wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_console_serves_the_api_from_the_same_services(trained_home: Path) -> None:
    from engine.cli.console_cmd import build_console

    services = Services(load_settings())
    port = _free_port()
    app = build_console(services, run_scheduler=False, serve_port=port)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.api_server is not None and app.api_server.started,
                       what="uvicorn to start")
        url = f"http://127.0.0.1:{port}"
        health = await asyncio.to_thread(httpx.get, f"{url}/health", timeout=10)
        assert health.status_code == 200, health.text
        predicted = await asyncio.to_thread(
            httpx.post, f"{url}/predict", json={"text": "WINNER! claim your free prize now"},
            timeout=10)
        assert predicted.status_code == 200, predicted.text
        assert app.services is services  # one Services for both
    # Leaving the app stopped uvicorn: the port is free again.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    services.close()
