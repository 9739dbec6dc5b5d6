"""GET /health: model version, store, scheduler holder, uptime."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.clock import SystemClock
from engine.scheduling import AdvisorySchedulerLock
from engine.services.core import HOLDER_CACHE_SECONDS
from engine.store import Store
from tests.server.conftest import ClientFactory


def test_health_reports_the_loaded_champion(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["model_version"] == 1
    assert body["store_reachable"] is True and body["problems"] == []
    assert body["scheduler_holder"] is None and body["uptime_seconds"] >= 0


def test_health_names_the_scheduler_holder(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    host = services.scheduler(kind="monitor")
    assert host.start()
    try:
        holder = client.get("/health").json()["scheduler_holder"]
        assert holder["kind"] == "monitor" and holder["pid"] > 0
    finally:
        host.shutdown()


def test_health_without_a_champion_is_503_with_reasons(empty_client: TestClient) -> None:
    response = empty_client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["model_version"] is None
    assert any("train" in p for p in body["problems"])


def test_health_names_a_scheduler_holder_on_another_host_of_a_postgresql_store(
        trained_home: Path, postgres_url: str, make_client: ClientFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder is read from PostgreSQL (its lock session), not from this data home: a
    process of another data home (another host) holding it shows with its host and pid."""
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    client = make_client()
    assert client.get("/health").json()["scheduler_holder"] is None
    other = trained_home.parent / "other-host"
    other.mkdir()
    shutil.copy2(trained_home / "spamops.key", other / "spamops.key")  # as deployed
    store = Store(other / "spamops.duckdb", other / "spool", clock=SystemClock(),
                  url=postgres_url)
    lock = AdvisorySchedulerLock(store, other / "locks")
    try:
        assert lock.acquire("monitor")
        time.sleep(HOLDER_CACHE_SECONDS + 0.1)  # /health reads it at most once a second
        holder = client.get("/health").json()["scheduler_holder"]
        assert (holder["host"], holder["pid"], holder["kind"]) == (
            socket.gethostname(), os.getpid(), "monitor")
    finally:
        lock.release()
        store.close()
