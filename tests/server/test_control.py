"""Control: POST /monitor/check, /retrain, GET /approvals, POST /approvals/{id}/approve|reject.

Every action needs X-API-Key, is disabled without a configured key, and is audited with the
caller as ``api:<key id>``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from server.deps import key_id
from tests.server.conftest import API_KEY, KEY

ACTIONS = [("post", "/monitor/check"), ("post", "/retrain"),
           ("post", "/approvals/abc/approve"), ("post", "/approvals/abc/reject"),
           ("post", "/models/rollback")]


@pytest.mark.parametrize(("method", "path"), ACTIONS)
def test_control_is_disabled_without_a_configured_key(client: TestClient, method: str,
                                                      path: str) -> None:
    response = client.request(method, path, headers=KEY)
    assert response.status_code == 503
    assert "set SPAMOPS_API_KEY" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), ACTIONS)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "not-the-key-12345"},
                                     {"X-API-Key": ""}])
def test_control_refuses_a_missing_or_wrong_key(keyed_client: TestClient, method: str,
                                                path: str, headers: dict[str, str]) -> None:
    response = keyed_client.request(method, path, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid X-API-Key header"}


def test_check_now_records_a_decision_by_the_caller(keyed_client: TestClient) -> None:
    response = keyed_client.post("/monitor/check", headers=KEY, json={"retrain": False})
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] == "INSUFFICIENT_DATA" and body["trigger"] == "api"
    assert "window" in " ".join(body["reasons"]).lower()
    assert body["actor"] == f"api:{key_id(API_KEY)}"


def test_check_now_without_a_body_runs_the_full_cycle(populated_client: TestClient) -> None:
    response = populated_client.post("/monitor/check", headers=KEY)
    assert response.status_code == 200
    assert response.json()["decision"] in {"RETRAIN", "NO_ACTION", "INSUFFICIENT_DATA"}


def test_unknown_fields_in_a_control_body_are_rejected(keyed_client: TestClient) -> None:
    response = keyed_client.post("/monitor/check", headers=KEY, json={"retrian": False})
    assert response.status_code == 422 and "retrian" in response.json()["detail"]


def test_approvals_lists_pending_by_default(populated_client: TestClient) -> None:
    body = populated_client.get("/approvals", headers=KEY).json()
    assert body["count"] == 1 and body["data"][0]["status"] == "pending"
    assert populated_client.get("/approvals?status=approved", headers=KEY).json()["count"] == 0
    assert populated_client.get("/approvals?status=all", headers=KEY).json()["count"] >= 1
    assert populated_client.get("/approvals?status=maybe", headers=KEY).status_code == 422


def test_approve_deploys_and_is_audited_with_the_caller(populated_client: TestClient) -> None:
    pending = populated_client.get("/approvals", headers=KEY).json()["data"][0]
    response = populated_client.post(f"/approvals/{pending['id']}/approve", headers=KEY,
                                     json={"reason": "looks right"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and body["decided_by"] == f"api:{key_id(API_KEY)}"
    models = populated_client.get("/models").json()["data"]
    champion = next(m for m in models if "champion" in m["aliases"])
    assert champion["version"] == pending["challenger_version"]
    predicted = populated_client.post("/predict", json={"text": "hi"}, headers=KEY).json()
    assert predicted["model_version"] == pending["challenger_version"]
    again = populated_client.post(f"/approvals/{pending['id']}/approve", headers=KEY)
    assert again.status_code == 409


def test_reject_keeps_the_champion(populated_client: TestClient) -> None:
    pending = populated_client.get("/approvals", headers=KEY).json()["data"][0]
    response = populated_client.post(f"/approvals/{pending['id']}/reject", headers=KEY)
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    models = populated_client.get("/models").json()["data"]
    assert next(m for m in models if "champion" in m["aliases"])["version"] == 1


def test_unknown_approval_is_404(keyed_client: TestClient) -> None:
    response = keyed_client.post("/approvals/doesnotexist/approve", headers=KEY)
    assert response.status_code == 404


@pytest.mark.slow
def test_retrain_compares_and_reports_the_deployment(keyed_client: TestClient) -> None:
    response = keyed_client.post("/retrain", headers=KEY)
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] in {"DEPLOY", "KEEP"} and body["champion_version"] == 1
    assert body["challenger_version"] == 2 and body["reasons"]
    history = keyed_client.get("/retraining/history").json()["data"]
    assert history[0]["id"] == body["retraining_id"]
    assert history[0]["actor"] == f"api:{key_id(API_KEY)}"
