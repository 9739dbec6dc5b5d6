"""GET /health: model version, store, scheduler holder, uptime."""

from __future__ import annotations

from fastapi.testclient import TestClient


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
