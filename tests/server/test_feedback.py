"""POST /feedback: late true labels; unknown ids and bad labels are refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import KEY


def _predict(client: TestClient, **kw: object) -> str:
    response = client.post("/predict", json={"text": "see you at 5 then"}, **kw)  # type: ignore[arg-type]
    return str(response.json()["prediction_id"])


def test_feedback_records_the_label(client: TestClient) -> None:
    pid = _predict(client)
    response = client.post("/feedback", json={"prediction_id": pid, "label": "spam"})
    assert response.status_code == 200
    body = response.json()
    assert body["prediction_id"] == pid and body["label"] == "spam" and body["received_at"]


def test_the_same_label_twice_is_one_label_and_a_change_counts(client: TestClient) -> None:
    pid = _predict(client)
    for label in ("ham", "ham", "spam"):
        assert client.post("/feedback", json={"prediction_id": pid, "label": label}).status_code \
            == 200
    services = client.app.state.services  # type: ignore[attr-defined]
    rows = services.sql(f"SELECT label FROM feedback WHERE prediction_id = '{pid}' ORDER BY id")
    assert [r[0] for r in rows.rows] == ["ham", "spam"]


def test_unknown_prediction_id_is_404(client: TestClient) -> None:
    response = client.post("/feedback", json={"prediction_id": "nope", "label": "ham"})
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


@pytest.mark.parametrize("label", ["SPAM", "junk", "", None])
def test_invalid_label_is_422(client: TestClient, label: object) -> None:
    pid = _predict(client)
    response = client.post("/feedback", json={"prediction_id": pid, "label": label})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("label:")


def test_unknown_fields_are_rejected(client: TestClient) -> None:
    response = client.post("/feedback", json={"prediction_id": "x", "label": "ham", "by": "me"})
    assert response.status_code == 422 and "by: Extra inputs" in response.json()["detail"]


def test_with_a_key_feedback_needs_it(keyed_client: TestClient) -> None:
    pid = _predict(keyed_client, headers=KEY)
    body = {"prediction_id": pid, "label": "ham"}
    assert keyed_client.post("/feedback", json=body).status_code == 401
    assert keyed_client.post("/feedback", json=body, headers=KEY).status_code == 200
