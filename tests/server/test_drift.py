"""GET /metrics/drift and /metrics/drift/history."""

from __future__ import annotations

from fastapi.testclient import TestClient

KEYS = {"vocabulary_drift", "tfidf_drift", "drift_detected", "threshold", "timestamp",
        "new_patterns", "drift_score", "p_value", "n", "model_version", "recommendation"}


def test_no_snapshot_yet_is_404_with_what_to_do(client: TestClient) -> None:
    response = client.get("/metrics/drift")
    assert response.status_code == 404
    assert "POST /monitor/check" in response.json()["detail"]


def test_latest_snapshot_has_the_documented_keys(populated_client: TestClient) -> None:
    response = populated_client.get("/metrics/drift")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= KEYS
    assert body["drift_detected"] is True and body["threshold"] == 0.15
    assert body["new_patterns"] and {"term", "count"} <= set(body["new_patterns"][0])


def test_history_is_newest_first_in_an_envelope(populated_client: TestClient) -> None:
    body = populated_client.get("/metrics/drift/history").json()
    assert body["count"] == len(body["data"]) >= 2
    stamps = [s["timestamp"] for s in body["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert populated_client.get("/metrics/drift/history?limit=1").json()["count"] == 1


def test_history_is_empty_not_an_error_on_a_fresh_home(client: TestClient) -> None:
    assert client.get("/metrics/drift/history").json() == {"data": [], "count": 0}


def test_history_limit_is_validated(client: TestClient) -> None:
    for bad in ("0", "1001", "ten"):
        response = client.get(f"/metrics/drift/history?limit={bad}")
        assert response.status_code == 422 and response.json()["detail"].startswith("query.limit")


TWO_SCAMS = ["URGENT your parcel is held, pay the fee at https://parcel-track.xyz/ab12 now",
             "Your Monzo account is locked, verify at https://monzo-secure.top/login today"]


def test_posting_two_messages_is_insufficient_data(client: TestClient) -> None:
    response = client.post("/metrics/drift", json={"texts": TWO_SCAMS})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["n"] == 2 and body["model_version"] == 1
    assert body["recommendation"] == "INSUFFICIENT_DATA"
    assert "Window of 2 messages is below the minimum of 200" in body["reason"]
    assert body["drift_detected"] is False  # not judged is not an alert
    assert client.get("/metrics/drift").status_code == 404  # nothing was saved
    judged = client.post("/metrics/drift", json={"texts": TWO_SCAMS, "min_window": 2}).json()
    assert judged["drift_detected"] is True  # the same window, judged, flags the shift


def test_posted_window_min_window_overrides_and_is_validated(client: TestClient) -> None:
    body = client.post("/metrics/drift", json={"texts": TWO_SCAMS, "min_window": 2}).json()
    assert body["recommendation"] in ("RETRAIN", "NO_ACTION")
    assert body["reason"] is None or "spam rate" in body["reason"]  # not INSUFFICIENT_DATA
    for bad in ({"texts": []}, {"texts": TWO_SCAMS, "min_window": 0},
                {"texts": TWO_SCAMS, "extra": 1}):
        assert client.post("/metrics/drift", json=bad).status_code == 422


def test_posting_a_window_without_a_champion_is_a_conflict(empty_client: TestClient) -> None:
    response = empty_client.post("/metrics/drift", json={"texts": TWO_SCAMS})
    assert response.status_code == 409 and "train" in response.json()["detail"]
