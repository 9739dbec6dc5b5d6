"""POST /predict and /predict/batch: scoring, logging, validation, keys."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import KEY

SPAM = "WINNER!! You have won a free prize worth £1000. Call 09061701461 now to claim!"
HAM = "Are we still meeting for lunch tomorrow at noon?"


def test_predict_returns_label_probability_version_and_id(client: TestClient) -> None:
    response = client.post("/predict", json={"text": SPAM})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"prediction_id", "label", "spam_probability", "model_version"}
    assert body["label"] == "spam" and body["spam_probability"] > 0.5
    assert body["model_version"] == 1 and len(body["prediction_id"]) == 32


def test_every_prediction_is_logged_so_feedback_can_refer_to_it(client: TestClient) -> None:
    prediction = client.post("/predict", json={"text": HAM}).json()
    assert prediction["label"] == "ham"
    feedback = client.post("/feedback", json={"prediction_id": prediction["prediction_id"],
                                              "label": "ham"})
    assert feedback.status_code == 200


def test_batch_keeps_order_and_counts(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"texts": [SPAM, HAM, SPAM]})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [p["label"] for p in body["data"]] == ["spam", "ham", "spam"]
    assert len({p["prediction_id"] for p in body["data"]}) == 3


def test_batch_of_exactly_1000_is_accepted(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"texts": [HAM] * 1000})
    assert response.status_code == 200 and response.json()["count"] == 1000


@pytest.mark.parametrize(("body", "fragment"), [
    ({"text": ""}, "text: String should have at least 1 character"),
    ({"text": "   "}, "must not be empty"),
    ({"text": "x" * 5001}, "text: String should have at most 5000 characters"),
    ({"text": SPAM, "extra": 1}, "extra: Extra inputs are not permitted"),
    ({}, "text: Field required"),
    ({"text": 42}, "text: Input should be a valid string"),
])
def test_invalid_single_text_is_a_clear_422(client: TestClient, body: object,
                                            fragment: str) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]


def test_text_of_exactly_5000_characters_is_accepted(client: TestClient) -> None:
    assert client.post("/predict", json={"text": "a" * 5000}).status_code == 200


@pytest.mark.parametrize(("texts", "fragment"), [
    ([], "texts: List should have at least 1 item"),
    (["ok"] * 1001, "texts: List should have at most 1000 items"),
    (["ok", ""], "texts.1: String should have at least 1 character"),
])
def test_invalid_batch_is_a_clear_422(client: TestClient, texts: list[str],
                                      fragment: str) -> None:
    response = client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 422
    assert fragment in response.json()["detail"]


def test_malformed_json_on_predict_is_400_not_500(client: TestClient) -> None:
    # The lean /predict route parses its own body: it must answer like every other route
    # (tests/server/test_errors.py), a 400 saying where the JSON breaks.
    response = client.post("/predict", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "line 1" in response.json()["detail"]


def test_no_champion_is_409_with_a_hint(empty_client: TestClient) -> None:
    response = empty_client.post("/predict", json={"text": HAM})
    assert response.status_code == 409
    assert "train" in response.json()["detail"]


def test_with_a_key_configured_predictions_need_it(keyed_client: TestClient) -> None:
    assert keyed_client.post("/predict", json={"text": HAM}).status_code == 401
    wrong = keyed_client.post("/predict", json={"text": HAM},
                              headers={"X-API-Key": "wrong-key-0123456789"})
    assert wrong.status_code == 401
    assert keyed_client.post("/predict", json={"text": HAM}, headers=KEY).status_code == 200
    assert keyed_client.post("/predict/batch", json={"texts": [HAM]}).status_code == 401


async def test_concurrent_requests_are_scored_together_and_each_gets_its_own_answer(
        client: TestClient) -> None:
    import asyncio

    import httpx

    texts = [SPAM if i % 3 == 0 else f"{HAM} ({i})" for i in range(60)]
    texts[17] = "   "  # one invalid request in the crowd fails alone
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        responses = await asyncio.gather(*(http.post("/predict", json={"text": t})
                                           for t in texts))
    assert responses[17].status_code == 422
    assert "must not be empty" in responses[17].json()["detail"]
    ok = [r.json() for i, r in enumerate(responses) if i != 17]
    assert all(r.status_code == 200 for i, r in enumerate(responses) if i != 17)
    assert [p["label"] for p in ok] == ["spam" if i % 3 == 0 else "ham"
                                        for i in range(60) if i != 17]
    assert len({p["prediction_id"] for p in ok}) == 59
    services = client.app.state.services  # type: ignore[attr-defined]
    services.store.flush()  # ``sql`` reads what is ingested; the spool flushes every 0.5 s
    assert services.sql("SELECT count(*) FROM predictions WHERE source = 'api'").rows == [(59,)]
