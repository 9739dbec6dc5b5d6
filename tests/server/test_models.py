"""GET /models, GET /models/comparison, POST /models/rollback."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.server.conftest import KEY


def test_models_lists_versions_aliases_and_metrics(client: TestClient) -> None:
    body = client.get("/models").json()
    assert body["count"] == 1
    model = body["data"][0]
    assert model["version"] == 1 and model["aliases"] == ["champion"]
    assert model["metrics"]["accuracy"] > 0.95 and "dataset_fingerprint" in model["lineage"]


def test_comparison_before_any_retraining_is_404(client: TestClient) -> None:
    response = client.get("/models/comparison")
    assert response.status_code == 404 and "retrain" in response.json()["detail"]


def test_comparison_shows_current_and_previous_model(populated_client: TestClient) -> None:
    response = populated_client.get("/models/comparison")
    assert response.status_code == 200
    body = response.json()
    current, previous = body["current_model"], body["previous_model"]
    assert {"version", "accuracy", "f1_score", "precision", "recall"} <= set(current)
    assert current["version"] > previous["version"] == 1
    assert body["decision"] == "PENDING_APPROVAL"
    # The numbers shown are the ones the decision used: they agree with ``improvement``.
    assert abs(current["accuracy"] - previous["accuracy"] - body["improvement"]) < 1e-6
    assert body["evaluated_on"] == "recent_feedback" and 0 <= body["mcnemar_p_value"] <= 1
    assert {s["name"] for s in body["sets"]} == {"test_split", "recent_feedback"}


def test_comparison_lists_each_set_with_size_dates_and_role(
        populated_client: TestClient) -> None:
    body = populated_client.get("/models/comparison").json()
    sets = {s["name"]: s for s in body["evaluation_sets"]}
    assert set(sets) == {"test_split", "recent_feedback"}
    test, recent = sets["test_split"], sets["recent_feedback"]
    assert (recent["role"], test["role"]) == ("decides", "guard")
    assert test["first_at"] is None and test["n"] > 1000 and test["n_ham"] > 800
    assert recent["first_at"] <= recent["last_at"] and recent["n"] >= 30
    assert test["accuracy_low"] <= test["accuracy_difference"] <= test["accuracy_high"]
    assert test["ham_fpr_low"] < test["ham_fpr_high"]


def test_rollback_is_disabled_without_a_configured_key(client: TestClient) -> None:
    response = client.post("/models/rollback")
    assert response.status_code == 503
    assert "SPAMOPS_API_KEY" in response.json()["detail"]


def test_rollback_needs_the_key(keyed_client: TestClient) -> None:
    assert keyed_client.post("/models/rollback").status_code == 401


def test_rollback_without_a_previous_version_is_a_clear_4xx(keyed_client: TestClient) -> None:
    response = keyed_client.post("/models/rollback", headers=KEY)
    assert 400 <= response.status_code < 500
    assert "/" not in response.json()["detail"].replace("N/A", "")


def test_rollback_swaps_champion_and_previous_and_is_audited(
        populated_client: TestClient) -> None:
    pending = populated_client.get("/approvals", headers=KEY).json()["data"][0]
    populated_client.post(f"/approvals/{pending['id']}/approve", headers=KEY)
    response = populated_client.post("/models/rollback", headers=KEY)
    assert response.status_code == 200
    assert response.json()["champion"] == 1
    assert response.json()["previous"] == pending["challenger_version"]
    services = populated_client.app.state.services  # type: ignore[attr-defined]
    last = services.audit_records(1)[0]
    assert last.action == "rollback" and last.actor.startswith("api:")
    assert "test-api-key" not in last.actor


def test_rollback_decided_on_another_champion_is_refused(populated_client: TestClient) -> None:
    pending = populated_client.get("/approvals", headers=KEY).json()["data"][0]
    populated_client.post(f"/approvals/{pending['id']}/approve", headers=KEY)
    champion = pending["challenger_version"]
    stale = populated_client.post("/models/rollback", headers=KEY,
                                  params={"expected_champion": pending["champion_version"]})
    assert stale.status_code == 409 and f"v{champion} now" in stale.json()["detail"]
    fresh = populated_client.post("/models/rollback", headers=KEY,
                                  params={"expected_champion": champion})
    assert fresh.status_code == 200 and fresh.json()["champion"] == pending["champion_version"]
