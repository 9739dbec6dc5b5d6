"""GET /retraining/history."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_history_is_empty_on_a_fresh_home(client: TestClient) -> None:
    assert client.get("/retraining/history").json() == {"data": [], "count": 0}


def test_history_has_trigger_decision_reasoning_versions_metrics_times(
        populated_client: TestClient) -> None:
    body = populated_client.get("/retraining/history?limit=10").json()
    assert body["count"] == len(body["data"]) >= 1
    event = body["data"][0]
    assert event["trigger"] and event["decision"] == "PENDING_APPROVAL"
    assert "improves" in event["reasoning"]
    assert event["champion_version"] == 1 and event["challenger_version"] >= 2
    assert set(event["metrics"]) == {"champion", "challenger"}
    assert event["metrics"]["challenger"]["accuracy"] > 0.9
    assert event["started_at"] <= event["finished_at"] and event["duration_seconds"] > 0
    starts = [e["started_at"] for e in body["data"]]
    assert starts == sorted(starts, reverse=True)


def test_limit_is_bounded(populated_client: TestClient) -> None:
    assert populated_client.get("/retraining/history?limit=1").json()["count"] == 1
    assert populated_client.get("/retraining/history?limit=0").status_code == 422
