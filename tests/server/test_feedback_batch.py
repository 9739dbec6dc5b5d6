"""POST /feedback/batch: up to 1,000 labels, all or nothing, idempotent."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.server.conftest import ClientFactory

TEXTS = ["see you at the station at 6", "WINNER! claim your free prize now, call 0906",
         "can you pick up milk"]


def test_post_feedback_batch(trained_home: Path, make_client: ClientFactory) -> None:
    client: TestClient = make_client()
    ids = [client.post("/predict", json={"text": t}).json()["prediction_id"] for t in TEXTS]
    body = {"labels": [{"prediction_id": ids[0], "label": "spam"},
                       {"text": TEXTS[2], "label": "ham"}]}
    response = client.post("/feedback/batch", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 2, "matched_predictions": 2, "added": 2,
                               "unchanged": 0, "conflicts": 0}
    assert client.post("/feedback/batch", json=body).json()["unchanged"] == 2
    bad = client.post("/feedback/batch", json={"labels": [
        {"prediction_id": ids[1], "label": "ham"}, {"prediction_id": "nope", "label": "ham"}]})
    assert bad.status_code == 422 and "item 2" in bad.json()["detail"]
    again = client.post("/feedback/batch", json={"labels": [
        {"prediction_id": ids[1], "label": "ham"}]})
    assert again.json()["added"] == 1  # the refused batch recorded nothing
    both = client.post("/feedback/batch", json={"labels": [
        {"prediction_id": ids[1], "text": "x", "label": "ham"}]})
    assert both.status_code == 422
    too_many = client.post("/feedback/batch", json={"labels": [
        {"prediction_id": ids[1], "label": "ham"}] * 1001})
    assert too_many.status_code == 422
